"""Speed and duration signals: real-time factor, latency, throughput, duration sanity.

RTF = synthesis seconds / audio seconds. The runner times each synthesize() call
(model loading and warm-up excluded; systems synchronize CUDA around timed regions).
For a batch of k items the call's wall time is each item's *latency*, and each item's
*share* is wall/k (unless the system reports per-item times). The corpus RTF is
Σ share / Σ audio seconds -- every second of compute counted once -- and throughput,
its inverse, is audio seconds produced per wall second. Latency percentiles answer
the other question: how long one utterance takes to come back.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from evalkit.metrics import stats
from evalkit.metrics.base import Metric, ScoreInput, Summary, summary_of_terms
from evalkit.types import Item, ItemError

# English read speech runs at about 14-15 characters per second (LibriSpeech
# test-clean: 1,127 targets, 4-10 s, mean ~14.6 chars/s); used when there is no
# ground truth to compare a generated duration against.
CHARS_PER_SECOND = 14.5
# Generated/expected duration outside [0.5, 2.0] flags a truncation or a run-on:
# natural speaking-rate variation stays well inside a factor of two.
TRUNCATION_RATIO = 0.5
RUN_ON_RATIO = 2.0
# Silence: 20 ms frames quieter than -40 dB relative to the utterance's loudest frame,
# or than -60 dBFS whatever the loudest frame is (speech frames sit around -20 to -35
# dBFS; a clip that is all digital silence or faint hiss has no loud frame to be
# relative to, and is all silence).
FRAME_SECONDS = 0.02
SILENCE_DB = -40.0
SILENCE_FLOOR_DBFS = -60.0
# Clipping: samples at full scale (16-bit max is 32767/32768 = 0.99997).
CLIP_LEVEL = 0.999
CLIP_FRACTION = 1e-3


class RealTimeFactor(Metric):
    name = "rtf"
    version = "1"
    description = "real-time factor: synthesis seconds / audio seconds"
    higher_is_better = False
    requires = frozenset({"timings"})
    cacheable = False
    batch_size = 1024

    def score(self, batch: Sequence[ScoreInput]) -> list[dict[str, Any] | ItemError]:
        out: list[dict[str, Any] | ItemError] = []
        for inp in batch:
            audio_seconds = len(inp.audio) / inp.sample_rate
            extras = inp.synthesis.extras
            latency = float(extras.get("latency_seconds", inp.synthesis.seconds))
            out.append({
                "synth_seconds": float(inp.synthesis.seconds),
                "latency_seconds": latency,
                "audio_seconds": audio_seconds,
                "rtf": latency / audio_seconds,
                "stages": dict(inp.synthesis.stages),
                "from_cache": bool(extras.get("from_cache", False)),
            })
        return out

    def paired_terms(self, values, failed):
        return {
            "rtf": {k: (v["synth_seconds"], v["audio_seconds"]) for k, v in values.items()},
            "throughput": {k: (v["audio_seconds"], v["synth_seconds"]) for k, v in values.items()},
            "latency": {k: (v["latency_seconds"], 1.0) for k, v in values.items()},
        }

    def aggregate(self, values: Sequence[Mapping[str, Any]], failed: Sequence[Item]) -> dict[str, Summary]:
        terms = self.paired_terms(dict(enumerate(values)), {})
        audio = [v["audio_seconds"] for v in values]
        stage_names = sorted({s for v in values for s in v["stages"]})
        common = {"n_from_cache": sum(v["from_cache"] for v in values)}

        def percentiles(key: str) -> dict[str, float]:
            return {f"{key}_{p}": x for p, x in stats.percentiles([v[key] for v in values]).items()}

        return {
            "rtf": summary_of_terms(
                terms["rtf"], len(failed), False, **common, **percentiles("rtf"),
                stages={s: stats.ratio([v["stages"].get(s, 0.0) for v in values], audio) for s in stage_names},
                synth_seconds=float(sum(v["synth_seconds"] for v in values)), audio_seconds=float(sum(audio)),
            ),
            "throughput": summary_of_terms(terms["throughput"], len(failed), True, **common),
            "latency": summary_of_terms(terms["latency"], len(failed), False, **common,
                                        **percentiles("latency_seconds")),
        }


def expected_seconds(item: Item, reference_seconds: float | None) -> tuple[float, str]:
    """The duration the utterance should have, and where that figure came from."""
    if reference_seconds:
        return reference_seconds, "ground truth"
    return max(len(item.text), 1) / CHARS_PER_SECOND, f"text length at {CHARS_PER_SECOND} chars/s"


def silence_ratio(audio: np.ndarray, sample_rate: int) -> float:
    """Fraction of 20 ms frames more than 40 dB below the loudest frame or below -60 dBFS."""
    frame = max(int(FRAME_SECONDS * sample_rate), 1)
    n = len(audio) // frame
    if n == 0:
        return 1.0
    frames = audio[: n * frame].astype(np.float64).reshape(n, frame)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)  # dBFS (full-scale square wave: 0)
    silent = (level < level.max() + SILENCE_DB) | (level < SILENCE_FLOOR_DBFS)
    return float(np.mean(silent))


def clipped_fraction(audio: np.ndarray) -> float:
    return float(np.mean(np.abs(audio) >= CLIP_LEVEL))


class DurationSanity(Metric):
    name = "duration"
    version = "2"  # 2: silence also below an absolute -60 dBFS floor
    description = "duration vs. expected (ground truth or text length), silence ratio, clipping"
    higher_is_better = None
    requires = frozenset({"text"})
    cacheable = False  # cheap, and must read the ground truth's length
    batch_size = 1024

    def score(self, batch: Sequence[ScoreInput]) -> list[dict[str, Any] | ItemError]:
        import soundfile as sf

        out: list[dict[str, Any] | ItemError] = []
        for inp in batch:
            seconds = len(inp.audio) / inp.sample_rate
            ref_seconds = None
            if inp.item.reference_audio is not None:
                info = sf.info(str(inp.item.reference_audio))
                ref_seconds = info.frames / info.samplerate
            expected, basis = expected_seconds(inp.item, ref_seconds)
            ratio = seconds / expected
            clip = clipped_fraction(inp.audio)
            out.append({
                "seconds": seconds,
                "expected_seconds": expected,
                "expected_from": basis,
                "ratio": ratio,
                "truncated": ratio < TRUNCATION_RATIO,
                "run_on": ratio > RUN_ON_RATIO,
                "silence_ratio": silence_ratio(inp.audio, inp.sample_rate),
                "clipped_fraction": clip,
                "clipping": clip > CLIP_FRACTION,
            })
        return out

    def paired_terms(self, values, failed):
        def mean_terms(key):
            return {k: (float(v[key]), 1.0) for k, v in values.items()}

        return {
            "duration_ratio": mean_terms("ratio"),
            "duration_log_error": {k: (abs(math.log(v["ratio"])), 1.0) for k, v in values.items() if v["ratio"] > 0},
            "truncation_rate": mean_terms("truncated"),
            "run_on_rate": mean_terms("run_on"),
            "silence_ratio": mean_terms("silence_ratio"),
            "clipping_rate": mean_terms("clipping"),
        }

    def aggregate(self, values: Sequence[Mapping[str, Any]], failed: Sequence[Item]) -> dict[str, Summary]:
        terms = self.paired_terms(dict(enumerate(values)), {})
        extras = {"duration_ratio": {"seconds": float(sum(v["seconds"] for v in values))}}
        # duration_ratio should be near 1, neither higher nor lower; the rest are errors and rates
        return {name: summary_of_terms(t, len(failed), None if name == "duration_ratio" else False,
                                       **extras.get(name, {}))
                for name, t in terms.items()}
