"""The metric contract, checked for every registered metric (as torchmetrics' MetricTester
checks every metric): a new metric needs a CASE here, or the first test fails.

On real inputs (espeak-ng speech with prompts, ground truth, tags, TorToiSe-like system
extras, an item no text-based metric can use, and an item whose generation failed),
each metric must

1. report summaries that equal its paired terms (value and interval), so gates judge
   the reported figure;
2. give the same per-item values whatever the order and batching of its inputs
   (within a documented tolerance where padding moves a value: SIM);
3. account for every item through the runner: for each summary, scored + failed + not
   applicable = the items that summary covers (every item; a tag row's items);
4. have a provenance that is JSON, equal across instances with equal options, unmoved
   by scoring, and that changes when an option that changes values changes.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import pytest
from metrics_helpers import SENTENCES, score_input

from evalkit.metrics import stats
from evalkit.metrics.base import Metric, ScoreInput
from evalkit.registry import BUILTIN, METRICS
from evalkit.types import Item, ItemError, Synthesis

TORTOISE_EXTRAS = {"chosen_clvp_score": 2.5, "max_mel_tokens": 500, "num_candidates": 2, "random_weights": True,
                   "chosen_stop_reason": "stop_token", "stop_reasons": {"stop_token": 2, "max_length": 0},
                   "silence_dropped_codes": 0}


@dataclass(frozen=True)
class Case:
    make: Callable[..., Metric]  # (request) -> a metric ready to score on the CPU
    tolerance: float = 0.0  # per-item values may move this much with batching
    changed: dict[str, Any] | None = None  # an option change that must change provenance


def _wer(request, **options):
    base = request.getfixturevalue("wer_openai").options
    metric = METRICS.get("wer")(**{**base, **options})
    metric.setup("cpu")
    return metric


def _sim(request, **options):
    base = request.getfixturevalue("sim_metric").options
    metric = METRICS.get("sim")(**{**base, **options})
    metric.setup("cpu")
    return metric


def _utmos(request, **options):
    _, checkpoint = request.getfixturevalue("random_utmos")
    metric = METRICS.get("utmos")(model=str(checkpoint), **options)
    metric.setup("cpu")
    return metric


def _plain(name):
    def make(request, **options):
        if name == "dnsmos":
            pytest.importorskip("speechmos")
            pytest.importorskip("onnxruntime")
        metric = METRICS.get(name)(**options)
        metric.setup("cpu")
        return metric
    return make


def _sim_tolerance():
    from evalkit.metrics.speaker import BATCH_TOLERANCE

    return BATCH_TOLERANCE


CASES: dict[str, Case] = {
    "wer": Case(_wer, changed={"normalizer": "seedtts"}),
    "sim": Case(_sim, tolerance=_sim_tolerance(), changed={"audio_input": "torchaudio"}),
    "rtf": Case(_plain("rtf")),
    "duration": Case(_plain("duration")),
    "clvp": Case(_plain("clvp"), changed={"max_mel_tokens": 400}),
    "stops": Case(_plain("stops")),
    "utmos": Case(_utmos),
    "dnsmos": Case(_plain("dnsmos")),
}


@pytest.fixture(scope="module")
def random_utmos(tmp_path_factory):
    """A random-weight checkpoint in the layout evalkit loads (UTMOS22's names, as
    utmos-pytorch writes them)."""
    torch = pytest.importorskip("torch")
    utmos_torch = pytest.importorskip("utmos_pytorch.utmos_torch")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("utmos") / "random.pt"
    torch.save(utmos_torch.UTMOSModel().state_dict(), path)
    return None, path


@pytest.fixture(scope="module")
def inputs(speak, tmp_path_factory) -> list[ScoreInput]:
    """Three generated items: with prompt + ground truth, with prompt only, and one
    whose text normalizes to nothing and that has no prompt (not applicable to wer and sim)."""
    import soundfile as sf

    folder = tmp_path_factory.mktemp("contract")
    clips = []
    for i, (text, voice) in enumerate([(SENTENCES[2], "en-us+m3"), (SENTENCES[3], "en-us+f3"), ("Hmm.", "en-gb-x-rp")]):
        audio, rate = sf.read(str(speak(text, voice)), dtype="float32")
        path = folder / f"{i}.wav"
        sf.write(str(path), audio[: int(1.2 * rate)], rate)  # 1.2 s: the full-size UTMOS is slow on a CPU
        clips.append(path)
    prompt = speak(SENTENCES[0], "en-us+m3")
    rows = [(SENTENCES[2], prompt, clips[0], ("plain",)), (SENTENCES[3], prompt, None, ("weather",)),
            ("(laughs) [music]", None, None, ("filler",))]
    out = []
    for i, (path, (text, p, ref, tags)) in enumerate(zip(clips, rows)):
        inp = score_input(path, text, prompt=p, reference=ref, tags=tags, item_id=f"item{i}")
        synthesis = Synthesis(inp.audio, inp.sample_rate, seconds=0.4 + 0.1 * i, stages={"a": 0.3},
                              extras={**TORTOISE_EXTRAS, "latency_seconds": 0.5, "from_cache": False})
        out.append(replace(inp, synthesis=synthesis))
    return out


FAILED_ITEM = Item("failed", "this item failed to generate", prompt_audio=None, tags=("plain",))


def applicable(metric: Metric, inputs: list[ScoreInput]) -> list[ScoreInput]:
    return [inp for inp in inputs if metric.not_applicable(inp) is None]


def close(a: Any, b: Any, tol: float) -> bool:
    """Equal per-item records, numbers within `tol`."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol
    return a == b


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    """(name, case, metric): one loaded metric per case for the whole module."""
    name = request.param
    return name, CASES[name], CASES[name].make(request)


@pytest.fixture(scope="module")
def scored(case, inputs):
    """(inputs the metric applies to, their values scored in one batch)."""
    _, _, metric = case
    applied = applicable(metric, inputs)
    return applied, metric.score(applied)


def test_every_registered_metric_has_a_contract_case():
    builtin = {name for name, entry in METRICS.entries().items() if entry.origin == BUILTIN}
    assert set(CASES) == builtin, "add a Case for the new metric to this file"


def test_summaries_equal_their_paired_terms(case, scored):
    name, _, metric = case
    scored, values = scored
    assert not any(isinstance(v, ItemError) for v in values), values
    ids = [inp.item.id for inp in scored]
    terms = metric.paired_terms(dict(zip(ids, values)), {FAILED_ITEM.id: FAILED_ITEM})
    summaries = metric.aggregate(values, [FAILED_ITEM])
    assert terms and set(terms) <= set(summaries)
    for summary_name, per_item in terms.items():
        num = np.array([t[0] for t in per_item.values()], dtype=float)
        den = np.array([t[1] for t in per_item.values()], dtype=float)
        s = summaries[summary_name]
        assert s.value == pytest.approx(num.sum() / den.sum(), rel=1e-12), summary_name
        expected_ci = stats.ratio_ci(num, den)  # None below two items
        assert s.ci95 == (None if expected_ci is None else pytest.approx(expected_ci, rel=1e-12)), summary_name


def test_values_do_not_depend_on_order_or_batching(case, scored):
    name, spec, metric = case
    scored, together = scored
    reverse = metric.score(scored[::-1])[::-1]
    alone = [metric.score([inp])[0] for inp in scored]
    assert close(together, reverse, spec.tolerance), name
    assert close(together, alone, spec.tolerance), name


def test_every_item_is_scored_failed_or_not_applicable(case, inputs):
    """Through the runner's scoring and aggregation, with one failed generation."""
    from evalkit.runner.aggregate import aggregate
    from evalkit.runner.driver import make_record
    from evalkit.runner.generate import Generated
    from evalkit.runner.score import Scorer
    from evalkit.schema import Timing

    name, _, metric = case
    generated = [Generated(inp.item, 0, score_input=inp, timing=Timing(inp.synthesis.seconds, None, 1))
                 for inp in inputs]
    scorer = Scorer([metric], "cpu")
    records = {g.item.id: make_record(g, s) for g, s in zip(generated, scorer.run(generated))}
    failed = Generated(FAILED_ITEM, 0, error=ItemError("Boom", "generation failed", "generate"))
    records[FAILED_ITEM.id] = make_record(failed, {"scores": {}, "not_applicable": {}, "metric_errors": {}})
    planned = [inp.item for inp in inputs] + [FAILED_ITEM]
    summaries = aggregate([metric], records, planned, system_generates=True)
    assert summaries
    for summary_name, s in summaries.items():
        tag = summary_name[summary_name.index("[") + 1 : -1] if summary_name.endswith("]") else None
        covered = [i for i in planned if tag is None or tag in i.tags]
        assert s.n + s.n_failed + s.n_not_applicable == len(covered), (summary_name, s)


def test_provenance_is_stable_json(case, inputs, request):
    name, spec, metric = case
    before = metric.provenance()  # after scoring (module fixture): models are loaded
    assert json.loads(json.dumps(before)) == before
    twin = spec.make(request)
    assert twin.provenance() == before
    scored = applicable(metric, inputs)
    assert metric.cache_key(scored[0]) == twin.cache_key(scored[0])
    twin.score(scored[:1])
    assert twin.provenance() == before  # scoring loads models, never changes what is recorded
    if "batch_size" in metric.options:  # an execution option: not provenance
        assert spec.make(request, batch_size=1).provenance() == before
    if spec.changed:
        assert spec.make(request, **spec.changed).provenance() != before
