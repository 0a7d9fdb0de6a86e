"""`evalkit gate` on real runs: pass, regression (1), not comparable / incomplete (2)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from gate_helpers import add_noise, audio_dir_from, gate_cli, truncate

REPO_ROOT = Path(__file__).resolve().parents[2]


def gate_json(run_dir):
    return json.loads((run_dir / "gate.json").read_text())


def verdicts(run_dir) -> dict[str, str]:
    return {r["summary"]: r["verdict"] for r in gate_json(run_dir)["results"]}


@pytest.fixture(scope="session")
def base(seeded_run):
    return seeded_run(1)


@pytest.fixture(scope="session")
def truncated(base, make_run, tmp_path_factory):
    folder = audio_dir_from(base, tmp_path_factory.mktemp("truncated"), truncate)
    return make_run("truncated", suite="smoke", system="audio-dir", system_options={"audio_dir": str(folder)})


@pytest.fixture(scope="session")
def untimed(tmp_path_factory) -> str:
    """A policy for audio-folder candidates, which time nothing: RTF cannot be required."""
    path = tmp_path_factory.mktemp("policies") / "untimed.yaml"
    path.write_text("required: [duration]\n")
    return str(path)


def test_identical_runs_pass(base, make_run):
    again = make_run("seeded-1-again", suite="smoke", system="evalkit_gate_plugin:SeededEspeak", seed=1)
    code, out = gate_cli("--baseline", str(base), "--candidate", str(again))
    assert code == 0, out
    results = gate_json(again)["results"]
    assert gate_json(again)["status"] == "pass"
    assert {r["verdict"] for r in results} <= {"pass", "skipped"}
    assert all(r["delta"] == 0 for r in results if "delta" in r)
    assert "| ↓ rtf |" in out and "PASS (exit 0)" in out


def test_truncated_audio_regresses_and_names_the_metric(base, truncated, untimed, tmp_path):
    junit = tmp_path / "gate.xml"
    code, out = gate_cli("--baseline", str(base), "--candidate", str(truncated), "--junit", str(junit),
                         "--policy", untimed)
    assert code == 1, out
    found = verdicts(truncated)
    assert found["truncation_rate"] == "regression" and found["duration_log_error"] == "regression"
    assert "**REGRESSION**" in out and "truncation_rate" in out
    # Audio-dir runs time nothing: RTF has no items to pair, so it is not judged, and
    # the gate says so rather than letting the PASS rows speak for it.
    assert found["rtf"] == "skipped"
    warnings = gate_json(truncated)["warnings"]
    assert any(w.startswith("metric 'rtf' not judged, not required") for w in warnings)
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"run checks", *found}
    assert cases["truncation_rate"].find("failure") is not None
    assert cases["rtf"].find("skipped") is not None
    assert int(suite.get("failures")) == sum(v == "regression" for v in found.values())
    assert int(suite.get("tests")) == len(cases)


def test_a_required_metric_the_candidate_cannot_score_is_exit_2(base, truncated):
    """By default every metric the baseline scored is required; the audio folder has
    no timings, so RTF cannot be judged: exit 2 (never a pass), regressions still shown."""
    code, out = gate_cli("--baseline", str(base), "--candidate", str(truncated))
    assert code == 2, out
    result = gate_json(truncated)
    assert result["status"] == "incomplete"
    assert "candidate: required metric 'rtf' scored on 0 item(s)" in out
    assert verdicts(truncated)["truncation_rate"] == "regression"


def test_exit_code_of_the_real_process(base, truncated, untimed, tmp_path):
    res = subprocess.run([sys.executable, "-m", "evalkit", "gate", "--baseline", str(base), "--candidate",
                          str(truncated), "--out", str(tmp_path / "g.json"), "--policy", untimed], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 1, res.stderr
    assert json.loads((tmp_path / "g.json").read_text())["exit_code"] == 1


def test_slower_system_regresses_on_timing_only_on_the_same_machine(base, seeded_run, tmp_path):
    slow = seeded_run(1, cost=1.0)  # same audio, twice the synthesis time
    code, out = gate_cli("--baseline", str(base), "--candidate", str(slow))
    assert code == 1, out
    found = verdicts(slow)
    assert found["rtf"] == found["throughput"] == found["latency"] == "regression"
    assert found["duration_log_error"] == "pass"
    # The same run recorded on another CPU model: timings are not comparable, the rest is.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(slow, elsewhere)
    info = json.loads((elsewhere / "run.json").read_text())
    info["hardware"]["cpu"] = "Some Other CPU 9000"
    (elsewhere / "run.json").write_text(json.dumps(info))
    code, out = gate_cli("--baseline", str(base), "--candidate", str(elsewhere))
    assert code == 0, out
    result = {r["summary"]: r for r in gate_json(elsewhere)["results"]}
    assert result["rtf"]["verdict"] == "skipped" and "different machines" in result["rtf"]["reason"]


def test_other_suite_version_is_not_comparable(base, make_run, other_suite_version):
    other = make_run("suite-v2", suite=str(other_suite_version), system="evalkit_gate_plugin:SeededEspeak", seed=1)
    code, out = gate_cli("--baseline", str(base), "--candidate", str(other))
    assert code == 2, out
    assert gate_json(other)["status"] == "not comparable"
    assert "different suites" in out and "smoke v2" in out


def test_other_protocol_is_not_comparable(base, make_run):
    other = make_run("protocol-seedtts", suite="smoke", system="evalkit_gate_plugin:SeededEspeak", seed=1,
                     protocol="seedtts")
    code, out = gate_cli("--baseline", str(base), "--candidate", str(other))
    assert code == 2 and "different scoring protocols" in out


def test_missing_items_are_incomplete(base, make_run):
    partial = make_run("limit-5", suite="smoke", system="evalkit_gate_plugin:SeededEspeak", seed=1, limit=5)
    code, out = gate_cli("--baseline", str(base), "--candidate", str(partial))
    assert code == 2, out
    assert gate_json(partial)["status"] == "incomplete" and "lacks 5 baseline item(s)" in out


def test_failures_above_the_policy_limit_are_incomplete(base, make_run, tmp_path_factory, tmp_path):
    folder = audio_dir_from(base, tmp_path_factory.mktemp("holes"), lambda a, r: a, skip=("smoke-02", "smoke-07"))
    holes = make_run("holes", suite="smoke", system="audio-dir", system_options={"audio_dir": str(folder)})
    code, out = gate_cli("--baseline", str(base), "--candidate", str(holes))
    assert code == 2 and "failure rate 20.0% (generation)" in out
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("max_failure_rate: 0.25\nrequired: [duration]\n")
    code, out = gate_cli("--baseline", str(base), "--candidate", str(holes), "--policy", str(lenient))
    assert code == 0, out


def test_repeated_seeds_pass_with_a_calibrated_policy_that_still_catches_regressions(
    base, seeded_run, truncated, untimed, tmp_path
):
    calibration = [base, seeded_run(2), seeded_run(3)]
    policy = tmp_path / "policy.yaml"
    code, out = gate_cli("calibrate", *map(str, calibration), "--out", str(policy), "--policy", untimed)
    assert code == 0, out
    text = policy.read_text()
    assert text.startswith("# Gate policy for suite smoke v1") and "noise_floor" in text
    for seed in (4, 5, 6, 7):
        candidate = seeded_run(seed)
        assert candidate.exists()
        code, out = gate_cli("--baseline", str(base), "--candidate", str(candidate), "--policy", str(policy))
        assert code == 0, f"seed {seed}:\n{out}"
    # Seeds really move the numbers (the tolerances are not zero by accident)...
    assert any(r["delta"] for r in gate_json(seeded_run(4))["results"] if r.get("delta") is not None)
    # ...and the calibrated gate does not sleep through real regressions.
    for regressed in (truncated, seeded_run(1, cost=1.0)):
        code, out = gate_cli("--baseline", str(base), "--candidate", str(regressed), "--policy", str(policy))
        assert code == 1, out


def test_calibrate_refuses_runs_of_different_systems(base, truncated, capsys):
    code, _ = gate_cli("calibrate", str(base), str(truncated))
    assert code == 2
    assert "one system, checkpoint and metric setup" in capsys.readouterr().err


def test_saved_baseline_gates_like_its_run_and_brings_the_suite_policy(base, truncated, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_BASELINES", str(tmp_path / "baselines"))
    from evalkit.cli import main

    assert main(["baseline", "save", str(base), "-q"]) == 0
    saved = tmp_path / "baselines" / "smoke" / "seeded-espeak.json"  # named after the system
    assert saved.is_file() and saved.stat().st_size < 50_000
    assert main(["baseline", "save", str(base), "-q"]) == 2  # exists: needs --force
    assert main(["baseline", "save", str(base), "--name", "seeded", "-q"]) == 0
    code, _ = gate_cli("--baseline", str(base), "--candidate", str(truncated))
    from_run = gate_json(truncated)
    code_named, _ = gate_cli("--baseline", "seeded", "--candidate", str(truncated))
    from_file = gate_json(truncated)
    assert code == code_named == 2  # rtf is required by default and the audio folder has no timings
    assert from_file["results"] == from_run["results"] and from_file["problems"] == from_run["problems"]
    (tmp_path / "baselines" / "smoke" / "policy.yaml").write_text("required: [duration]\n"
                                                                   "summaries:\n  truncation_rate: {abs: 2}\n"
                                                                   "  duration_log_error: {gate: false}\n"
                                                                   "  silence_ratio: {gate: false}\n")
    code, out = gate_cli("--baseline", "seeded", "--candidate", str(truncated))
    assert code == 0, out
    assert gate_json(truncated)["policy"]["source"].endswith("smoke/policy.yaml")
    # Without --baseline, the candidate's system names it: seeded-espeak.json.
    again = gate_cli("--candidate", str(base))
    assert again[0] == 0 and "baseline seeded-espeak/seeded-1 " in again[1]


def test_unknown_baseline_name_lists_the_saved_ones(base, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVALKIT_BASELINES", str(tmp_path))
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "espeak.json").write_text("{}")
    code, _ = gate_cli("--baseline", "nope", "--candidate", str(base))
    assert code == 2
    assert "saved: espeak" in capsys.readouterr().err


def test_step_summary_is_appended(base, truncated, untimed, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gate_cli("--baseline", str(base), "--candidate", str(truncated), "--policy", untimed)
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "### evalkit gate: REGRESSION (exit 1)" in text


def _wer_is_gateable() -> bool:
    from evalkit.metrics.protocols import metric_options
    from evalkit.metrics.wer import WerMetric

    metric = WerMetric(**metric_options("evalkit", "cpu")["wer"])
    value = {"words": {"sub": 1, "del": 0, "ins": 0, "hit": 3, "ref": 4},
             "chars": {"sub": 1, "del": 0, "ins": 0, "hit": 9, "ref": 10}, "wer": 0.25, "cer": 0.1, "tags": []}
    return "wer" in metric.paired_terms({"a": value}, {})


def test_noisy_audio_regresses_wer(make_run, tmp_path_factory):
    if not _wer_is_gateable():
        pytest.skip("the wer metric does not provide paired_terms yet, so WER cannot be gated")
    # Four items keep the two Whisper runs short; noise at -5 dB SNR ruins every one.
    clean = make_run("espeak-wer", suite="smoke", system="espeak", metrics=("wer", "duration"), limit=4)
    folder = audio_dir_from(clean, tmp_path_factory.mktemp("noisy"), add_noise)
    noisy = make_run("noisy-wer", suite="smoke", system="audio-dir", system_options={"audio_dir": str(folder)},
                     metrics=("wer", "duration"), limit=4)
    code, out = gate_cli("--baseline", str(clean), "--candidate", str(noisy))
    assert code == 1, out
    assert verdicts(noisy)["wer"] == "regression"


def test_run_recorded_with_options_a_metric_no_longer_has(base, tmp_path):
    """A metric evolved since the run: the run still reads, and is not comparable."""
    older = tmp_path / "older"
    shutil.copytree(base, older)
    info = json.loads((older / "run.json").read_text())
    duration = next(m for m in info["metrics"] if m["name"] == "duration")
    duration["options"]["retired_option"] = 1
    (older / "run.json").write_text(json.dumps(info))
    code, out = gate_cli("--baseline", str(older), "--candidate", str(base), "--out", str(tmp_path / "g.json"))
    assert code == 2
    assert "metric 'duration' is computed differently: options.retired_option: 1 vs None" in out
