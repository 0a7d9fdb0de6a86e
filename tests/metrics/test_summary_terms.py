"""Every figure a gate can resample is the figure metrics.json reports.

Gates and A/B reports resample each metric's `paired_terms` (item -> numerator,
denominator); metrics.json comes from `aggregate`. For every metric, on per-item values
shaped like its own (including failures, missing fields, non-finite scores and tags),
each summary that has terms must equal sum(numerators) / sum(denominators) computed here
with numpy, and carry the same item-bootstrap interval.
"""
import math

import numpy as np
import pytest

from evalkit.metrics import stats
from evalkit.metrics.dnsmos import Dnsmos
from evalkit.metrics.normalizers import get_normalizer
from evalkit.metrics.speaker import SpeakerSimilarity
from evalkit.metrics.stops import DecodingStops, stop_record
from evalkit.metrics.timing import DurationSanity, RealTimeFactor
from evalkit.metrics.utmos import Utmos
from evalkit.metrics.wer import WerMetric, score_text
from evalkit.tortoise.clvp_metric import ClvpAgreement
from evalkit.types import Item

RNG = np.random.default_rng(7)
PAIRS = [("the cat sat on the mat", "the cat sat on a mat"), ("a b", "a b c d e"),
         ("hello world how are you today", "hello world"), ("one two three", "one two three"),
         ("numbers like 42 matter", "numbers like forty two matter")]


def wer_values():
    norm = get_normalizer("whisper-english")
    tags = [("numbers",), ("short",), (), ("short", "numbers"), ("numbers",)]
    return [{**score_text(ref, hyp, norm), "tags": list(t)} for (ref, hyp), t in zip(PAIRS, tags)]


def sim_values():
    values = [{"sim_o": float(x), "sim_gt": float(y)} for x, y in RNG.uniform(0.2, 0.9, size=(6, 2))]
    values[1]["sim_gt"] = None  # no ground truth for this item
    values[2]["sim_o"] = float("nan")  # a degenerate embedding
    return values


def rtf_values():
    values = []
    for share, audio, latency in RNG.uniform(0.5, 4.0, size=(6, 3)):
        values.append({"synth_seconds": share, "latency_seconds": latency, "audio_seconds": audio,
                       "rtf": share / audio, "stages": {"a": share / 2}, "from_cache": False})
    return values


def duration_values():
    ratios = [0.3, 0.9, 1.1, 2.5, 1.0, 0.0]
    return [{"seconds": 2 * r, "expected_seconds": 2.0, "expected_from": "ground truth", "ratio": r,
             "truncated": r < 0.5, "run_on": r > 2.0, "silence_ratio": r / 3, "clipped_fraction": 0.0,
             "clipping": i == 2} for i, r in enumerate(ratios)]


def clvp_values():
    pipeline = [{"source": "pipeline", "clvp": float(x), "max_mel_tokens": 500, "random_weights": False}
                for x in RNG.normal(5, 2, size=4)]
    dvae = [{"source": "dvae", "clvp": float(x), "max_mel_tokens": 500} for x in RNG.normal(3, 1, size=3)]
    dvae.append({"source": "dvae", "clvp": float("nan"), "max_mel_tokens": 500})
    return pipeline + dvae


def stops_values():
    ends = [("stop_token", 14, 2, 0), ("max_length", 3, 13, 0), ("stop_token", 9, 7, 21), ("stop_token", 16, 0, 0)]
    return [stop_record({"chosen_stop_reason": chosen, "stop_reasons": {"stop_token": s, "max_length": m},
                         "silence_dropped_codes": d}) for chosen, s, m, d in ends]


def utmos_values():
    values = [{"utmos": float(x)} for x in RNG.uniform(1.5, 4.5, size=5)]
    values[3]["utmos"] = float("nan")  # a degenerate prediction is left out of the mean
    return values


def dnsmos_values():
    return [{"ovrl": float(o), "sig": float(s), "bak": float(b), "p808": float(p)}
            for o, s, b, p in RNG.uniform(1.0, 5.0, size=(6, 4))]


FAILED = [Item("f1", "the failed item has six words", prompt_audio="p.wav"), Item("f2", "two words", tags=("numbers",))]
CASES = {
    "wer": (WerMetric, wer_values),
    "sim": (SpeakerSimilarity, sim_values),
    "rtf": (RealTimeFactor, rtf_values),
    "duration": (DurationSanity, duration_values),
    "clvp": (ClvpAgreement, clvp_values),
    "stops": (DecodingStops, stops_values),
    "utmos": (Utmos, utmos_values),
    "dnsmos": (Dnsmos, dnsmos_values),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reported_summaries_are_the_ratios_gates_resample(name):
    cls, make_values = CASES[name]
    metric = cls()
    values = make_values()
    ids = [f"item{i}" for i in range(len(values))]
    terms = metric.paired_terms(dict(zip(ids, values)), {item.id: item for item in FAILED})
    summaries = metric.aggregate(values, FAILED)
    assert terms, "a metric with no paired terms cannot be gated"
    assert set(terms) <= set(summaries), f"terms without a reported summary: {set(terms) - set(summaries)}"
    for summary_name, per_item in terms.items():
        summary = summaries[summary_name]
        num = np.array([t[0] for t in per_item.values()], dtype=float)
        den = np.array([t[1] for t in per_item.values()], dtype=float)
        assert all(math.isfinite(x) for x in np.concatenate([num, den])), summary_name
        assert summary.value == pytest.approx(num.sum() / den.sum(), rel=1e-12), summary_name
        assert summary.ci95 == pytest.approx(stats.ratio_ci(num, den), rel=1e-12), summary_name
