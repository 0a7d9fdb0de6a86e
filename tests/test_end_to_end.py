"""What `make eval` and a CI gate do, end to end, offline, with real models.

The smoke suite with espeak-ng is scored by real Whisper tiny.en and real ECAPA, and
the fresh run is gated against the committed baselines (baselines/smoke/).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=900)
    if check and res.returncode != 0:
        raise AssertionError(f"evalkit {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory, espeak):
    root = tmp_path_factory.mktemp("e2e")
    runs = {}
    for system in ("espeak", "ground-truth"):
        out = root / system
        data = json.loads(cli("run", "--suite", "smoke", "--system", system, "--out", str(out), "--json").stdout)
        runs[system] = (out, data)
    return runs


def test_smoke_reports_wer_cer_sim_rtf_with_cis(smoke_runs):
    _, data = smoke_runs["espeak"]
    metrics = data["metrics"]
    for name in ("wer", "cer", "wer_macro", "sim_o", "sim_gt", "rtf", "duration_ratio"):
        m = metrics[name]
        assert m["n"] == 10 and m["n_failed"] == 0, name
        assert m["ci95"] is not None and m["ci95"][0] <= m["value"] <= m["ci95"][1], name
    assert 0.0 <= metrics["wer"]["value"] < 0.6  # espeak is intelligible to tiny.en
    assert metrics["wer"]["protocol"] == "evalkit" and metrics["wer"].get("main")
    assert data["main_metric"] == "wer" and data["complete"]


def test_ground_truth_is_the_topline_for_speaker_similarity(smoke_runs):
    espeak = smoke_runs["espeak"][1]["metrics"]
    truth = smoke_runs["ground-truth"][1]["metrics"]
    # the recordings are in the prompt's voice; espeak's default voice is not
    assert truth["sim_o"]["value"] > espeak["sim_o"]["value"]
    assert truth["sim_gt"]["value"] > 0.99  # the ground truth compared with itself
    assert truth["rtf"]["n"] == 0 and truth["rtf"]["value"] is None  # nothing was synthesized


@pytest.mark.parametrize("system", ["espeak", "ground-truth"])
def test_fresh_smoke_run_passes_the_committed_gate(smoke_runs, system, tmp_path):
    out, _ = smoke_runs[system]
    junit = tmp_path / "gate.xml"
    res = cli("gate", "--candidate", str(out), "--junit", str(junit), check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS" in res.stdout and junit.is_file()
    gate = json.loads((out / "gate.json").read_text())
    judged = {r["summary"] for r in gate["results"] if r["verdict"] == "pass"} if "results" in gate else set()
    assert {"wer", "sim_o"} <= judged


def test_make_eval_passes_its_parameters(tmp_path, espeak):
    out = tmp_path / "make-run"
    command = ["make", "-s", "eval", "SUITE=smoke", "LIMIT=2", "SEED=3", f"OUT={out}", "METRICS=rtf,duration"]
    res = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["seed"] == 3 and info["system"]["name"] == "espeak"
    assert json.loads((out / "metrics.json").read_text())["n_items"] == 2


def test_python_api_compare_matches_the_cli(smoke_runs):
    from evalkit.api import compare, load_run

    out, data = smoke_runs["espeak"]
    run = load_run(out)
    assert len(run.samples) == 10 and run.summaries["wer"].value == data["metrics"]["wer"]["value"]
    assert run.system.name == "espeak" and run.complete and run.summaries["wer"].main
    assert compare(None, out).exit_code == 0  # the default baseline: baselines/smoke/espeak.json
    # against the ground-truth run, espeak's voice is a regression in speaker similarity
    against_truth = compare(smoke_runs["ground-truth"][0], out)
    regressed = {r.summary for r in against_truth.results if r.verdict == "regression"}
    assert against_truth.exit_code == 1 and "sim_o" in regressed
