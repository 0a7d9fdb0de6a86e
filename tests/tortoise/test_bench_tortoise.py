"""benchmarks/bench_tortoise.py runs end to end on CPU with tiny models (the GPU run uses the same code)."""
import contextlib
import importlib.util
import json

import pytest

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # only a speed-up (installed with scikit-learn)
    def threadpool_limits(limits):
        return contextlib.nullcontext()

from evalkit.provenance import REPO_ROOT
from evalkit.tortoise.pipeline import STAGES

pytestmark = pytest.mark.usefixtures("single_thread")

TINY_ARGS = ["--device", "cpu", "--size", "tiny", "--max-mel-tokens", "10"]
STAGE_KEYS = {f"{stage}_s" for stage in STAGES}


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("bench_tortoise", REPO_ROOT / "benchmarks" / "bench_tortoise.py")


def test_presets_are_timed_for_a_fixed_number_of_codes(bench, capsys):
    results = bench.main([*TINY_ARGS, "--presets", "ultra_fast,fast"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads(json.dumps(results))  # the last line carries every figure
    for preset, candidates in (("ultra_fast", 16), ("fast", 96)):
        row = results["presets"][preset]
        assert STAGE_KEYS <= set(row) and row["candidates"] == candidates
        assert row["codes"] == 10  # stop token forbidden: every candidate runs to max_mel_tokens
        assert row["rtf"] == pytest.approx(row["wall_s"] / row["audio_s"])
        assert row["wall_s"] >= sum(row[k] for k in STAGE_KEYS) * 0.99
        assert row["peak_gpu_gib"] is None
    assert "reference_measured_ratios" not in results  # measured figures: official size, 500 codes, GPU
    comparable = bench.comparable_with_reference
    assert comparable(bench.parse_args(["--device", "cuda"]))
    for other in (["--device", "cpu"], ["--device", "cuda", "--max-mel-tokens", "100"], ["--size", "tiny"]):
        assert not comparable(bench.parse_args(other))
    assert results["reference_measured"]["label"].startswith("reference measured 2026-11-28")


def test_reference_runs_in_the_same_process(bench, reference, capsys, tmp_path):
    out = tmp_path / "tortoise-reference.json"
    with threadpool_limits(1):  # tortoise's STFT pseudo-inverse: see test_pipeline.py
        results = bench.main([*TINY_ARGS, "--presets", "ultra_fast", "--reference", "ultra_fast,fast",
                              "--json-out", str(out)])
    assert set(results["reference_same_run"]) == {"ultra_fast", "fast"}
    same_run = results["reference_same_run"]["ultra_fast"]
    assert same_run["preset"] == "ultra_fast" and same_run["audio_s"] == results["presets"]["ultra_fast"]["audio_s"]
    assert {"ar_sampling_s", "diffusion_s", "wall_s"} <= set(same_run)
    assert results["reference_same_run"]["fast"]["preset"] == "fast"
    # ratios only where both sides ran the preset in this process
    assert set(results["same_run_ratios"]) == {"ultra_fast"}
    assert set(results["same_run_ratios"]["ultra_fast"]) >= {"wall_s", "ar_sampling_s", "diffusion_s"}
    assert "this process" in capsys.readouterr().out
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    # The GPU check's results file: one workload per preset, the reference's figure only where it ran alongside.
    collect = _load("collect_results", REPO_ROOT / "benchmarks" / "device" / "collect_results.py")
    workloads = {w["name"]: w for w in collect.collect(tmp_path)["workloads"]}
    assert set(workloads) == {"tortoise.ultra_fast"}
    assert workloads["tortoise.ultra_fast"]["reference_s"] == same_run["wall_s"]
    ours = results["presets"]["ultra_fast"]
    assert workloads["tortoise.ultra_fast"]["stages"]["ar_sampling"] == ours["ar_sampling_s"]
