"""The `clvp` metric: TorToiSe's own score for pipeline output, the EXPERIMENTAL DVAE path for other audio."""
import json
import math

import numpy as np
import pytest
import torch

from evalkit.api import EvalConfig, evaluate
from evalkit.audio import load_audio
from evalkit.metrics.base import ScoreInput
from evalkit.provenance import REPO_ROOT
from evalkit.tortoise.clvp_metric import COMPARABILITY, ClvpAgreement
from evalkit.tortoise.dvae import TINY_DVAE, expected_checkpoint_shapes
from evalkit.tortoise.models import ModelConfigs, build_module, random_weights
from evalkit.types import EvalkitError, Item, Synthesis
from evalkit.weights import LOCK_NAME, WeightsError, file_sha256, weights_root

pytestmark = pytest.mark.usefixtures("single_thread")

SMOKE = REPO_ROOT / "suites" / "smoke" / "audio"
RANDOM_TINY = {"size": "tiny", "random_weights": True}


def score_input(item_id="a", extras=None, path=SMOKE / "smoke-01.flac", text="The quick brown fox."):
    audio, rate = load_audio(path)
    item = Item(item_id, text, reference_audio=path)
    return ScoreInput(item=item, audio=audio, sample_rate=rate, audio_sha256=file_sha256(path),
                      synthesis=Synthesis(audio=audio, sample_rate=rate, extras=extras or {}))


PIPELINE_EXTRAS = {"chosen_clvp_score": 1.25, "max_mel_tokens": 500, "num_candidates": 16, "random_weights": False}


def test_pipeline_output_is_scored_from_its_extras():
    metric = ClvpAgreement(dvae=False)
    inp = score_input(extras=PIPELINE_EXTRAS)
    assert metric.not_applicable(inp) is None
    [value] = metric.score([inp])
    assert value == {"clvp": 1.25, "source": "pipeline", "max_mel_tokens": 500, "num_candidates": 16,
                     "random_weights": False}
    assert metric.provenance()["dvae_path"] is None


def test_other_audio_is_not_applicable_without_the_experimental_path():
    inp = score_input()
    assert "DVAE path is off" in ClvpAgreement(dvae=False).not_applicable(inp)
    reason = ClvpAgreement().not_applicable(inp)  # "auto", nothing in the weights cache
    assert "evalkit weights fetch tortoise/dvae" in reason and "evalkit weights fetch tortoise/clvp" in reason
    with pytest.raises(WeightsError, match="evalkit weights fetch tortoise/clvp"):
        ClvpAgreement(dvae=True).provenance()  # required but absent (offline): fails before any scoring


def test_experimental_path_scores_any_audio():
    metric = ClvpAgreement(dvae=True, max_mel_tokens=40, **RANDOM_TINY)
    inputs = [score_input("long"), score_input("short", path=SMOKE / "prompt-f3.flac")]
    assert all(metric.not_applicable(inp) is None for inp in inputs)
    values = metric.score(inputs)
    for value in values:
        assert value["source"] == "dvae" and value["experimental"] and math.isfinite(value["clvp"])
        # 22.05 kHz, 4 mel hops of 256 samples per code
        assert value["codes"] > 0 and value["truncated"] == (value["codes"] > 40)
    assert metric.score(inputs) == values  # deterministic
    provenance = metric.provenance()
    assert set(provenance["dvae_path"]) == {"clvp", "dvae"} and "EXPERIMENTAL" in provenance["experimental"]
    # The padding to max_mel_tokens enters CLVP's mean: another length, another score.
    longer = ClvpAgreement(dvae=True, max_mel_tokens=300, **RANDOM_TINY).score(inputs[:1])[0]
    assert longer["clvp"] != values[0]["clvp"] and not longer["truncated"]


def test_same_audio_caches_separately_by_source():
    metric = ClvpAgreement(dvae=True, **RANDOM_TINY)
    assert metric.cache_key(score_input()) != metric.cache_key(score_input(extras=PIPELINE_EXTRAS))


def _cache_official_files(component, state):
    """Put a checkpoint where `evalkit weights fetch tortoise/<component>` would, with its lock record."""
    from evalkit.tortoise.weights import FILES

    folder = weights_root() / "tortoise" / component
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / FILES[component])
    file = folder / FILES[component]
    lock = {"name": f"tortoise/{component}", "source": "test", "files": {file.name: file_sha256(file)}}
    (folder / LOCK_NAME).write_text(json.dumps(lock))


def test_auto_uses_cached_weights_with_strict_dvae_loading(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_WEIGHTS", str(tmp_path / "weights"))
    configs = ModelConfigs.for_size("tiny")
    g = torch.Generator().manual_seed(0)
    shapes = expected_checkpoint_shapes(TINY_DVAE)
    _cache_official_files("dvae", {k: torch.randn(s, generator=g) * 0.2 for k, s in shapes.items()})
    _cache_official_files("clvp", build_module("clvp", configs, random_weights("clvp", configs, 0)).state_dict())
    metric = ClvpAgreement(size="tiny", max_mel_tokens=40)
    inp = score_input()
    assert metric.not_applicable(inp) is None
    assert metric.provenance()["dvae_path"]["dvae"]["source"] == "test"
    [value] = metric.score([inp])
    assert value["source"] == "dvae" and not value["random_weights"]


def test_summaries_keep_the_sources_apart():
    metric = ClvpAgreement()
    pipeline = [{"clvp": x, "source": "pipeline", "max_mel_tokens": 500, "random_weights": False}
                for x in (1.0, 2.0, 3.0)]
    dvae = [{"clvp": 0.5, "source": "dvae", "max_mel_tokens": 500, "experimental": True}] * 2
    summaries = metric.aggregate(pipeline + dvae, failed=[Item("f", "x")])
    assert set(summaries) == {"clvp", "clvp_dvae"}
    clvp, experimental = summaries["clvp"].to_json(), summaries["clvp_dvae"].to_json()
    assert (clvp["value"], clvp["n"], clvp["n_failed"], clvp["higher_is_better"]) == (2.0, 3, 1, True)
    assert clvp["ci95"][0] <= 2.0 <= clvp["ci95"][1] and clvp["note"] == COMPARABILITY
    assert experimental["experimental"] is True and experimental["value"] == 0.5
    mixed = metric.aggregate([pipeline[0], {**pipeline[1], "max_mel_tokens": 300}], failed=[])["clvp"]
    assert "not comparable" in mixed.extra["warning"]
    assert metric.aggregate([], failed=[Item("f", "x")])["clvp"].to_json()["n_failed"] == 1
    terms = metric.paired_terms({"a": pipeline[0], "b": pipeline[1], "c": dvae[0]}, {})
    assert terms == {"clvp": {"a": (1.0, 1.0), "b": (2.0, 1.0)}, "clvp_dvae": {"c": (0.5, 1.0)}}


def test_options_are_validated():
    for options, message in (({"dvae": "maybe"}, "dvae="), ({"max_mel_tokens": 0}, "max_mel_tokens"),
                             ({"size": "huge"}, "size"), ({"checkpoints": {"vocoder": "x"}}, "clvp and dvae")):
        with pytest.raises(EvalkitError, match=message):
            ClvpAgreement(**options)


def test_ground_truth_run_reports_an_experimental_summary(tmp_path):
    result = evaluate(EvalConfig(suite="smoke", system="ground-truth", metrics=("clvp",), limit=3, quiet=True,
                                 metric_options={"clvp": {**RANDOM_TINY, "dvae": True, "max_mel_tokens": 60}},
                                 out=tmp_path / "run"))
    summary = result.metrics["metrics"]["clvp_dvae"]
    assert summary["n"] == 3 and summary["experimental"] is True and "EXPERIMENTAL" in summary["provenance"]
    assert "clvp" not in result.metrics["metrics"]
    samples = [json.loads(line) for line in (result.run_dir / "samples.jsonl").read_text().splitlines()]
    assert all(np.isfinite(s["scores"]["clvp"]["clvp"]) for s in samples)
