"""A gate never passes what it cannot judge (issue 11): baselines and candidates a
comparison cannot stand on are refused with exit 2 and the reason."""
from __future__ import annotations

import json

import pytest
from gate_helpers import audio_dir_from, gate_cli, truncate

from evalkit.baseline import dumps
from evalkit.cli import main
from evalkit.gating.snapshot import snapshot_run


@pytest.fixture(scope="session")
def base(seeded_run):
    return seeded_run(1)


@pytest.fixture(scope="session")
def all_failed(make_run, tmp_path_factory):
    """The reported case: an audio-dir run over an empty folder (every item failed)."""
    empty = tmp_path_factory.mktemp("no-audio")
    return make_run("all-failed", suite="smoke", system="audio-dir", system_options={"audio_dir": str(empty)})


@pytest.fixture(scope="session")
def truncated(base, make_run, tmp_path_factory):
    folder = audio_dir_from(base, tmp_path_factory.mktemp("truncated-trust"), truncate)
    return make_run("truncated-trust", suite="smoke", system="audio-dir", system_options={"audio_dir": str(folder)})


@pytest.fixture
def lenient(tmp_path) -> str:
    """A policy that tolerates any failure rate: the item-count rule must still hold."""
    path = tmp_path / "lenient.yaml"
    path.write_text("max_failure_rate: 1.0\n")
    return str(path)


def gate_json(run_dir):
    return json.loads((run_dir / "gate.json").read_text())


def test_a_run_whose_items_all_failed_cannot_be_saved_as_a_baseline(all_failed, lenient, tmp_path, capsys):
    root = tmp_path / "baselines"
    assert main(["baseline", "save", str(all_failed), "--dir", str(root), "--name", "empty"]) == 2
    err = capsys.readouterr().err
    assert "not a baseline a gate can stand on" in err and "failure rate 100.0% (generation)" in err
    assert main(["baseline", "save", str(all_failed), "--dir", str(root), "--name", "empty",
                 "--policy", lenient]) == 2
    assert "required metric 'duration' scored on 0 item(s)" in capsys.readouterr().err
    assert not (root / "smoke" / "empty.json").exists()


def test_truncated_audio_never_passes_against_an_all_failed_baseline(all_failed, truncated, lenient, tmp_path):
    # A baseline file saved before the rule existed, and the run directory itself.
    old_file = tmp_path / "empty.json"
    old_file.write_text(dumps(snapshot_run(all_failed).to_json()))
    for reference in (old_file, all_failed):
        for policy in ((), ("--policy", lenient)):
            code, out = gate_cli("--baseline", str(reference), "--candidate", str(truncated), *policy)
            assert code == 2, out
            assert "baseline: " in out and "INCOMPLETE (exit 2)" in out
    # The lenient policy lets the failure rate through; the empty terms are what refuse it.
    assert "baseline: required metric 'duration' scored on 0 item(s)" in out


def test_an_all_failed_candidate_is_refused(base, all_failed, lenient):
    for policy in ((), ("--policy", lenient)):
        code, out = gate_cli("--baseline", str(base), "--candidate", str(all_failed), *policy)
        assert code == 2, out
        assert "candidate: " in out


def test_too_few_items_to_judge_are_refused(make_run, seeded_run, tmp_path, capsys):
    """Three items: a bootstrap interval's edge is a single item's delta (policy min_items)."""
    three = make_run("seeded-limit-3", suite="smoke", system="evalkit_gate_plugin:SeededEspeak", seed=1, limit=3)
    assert main(["baseline", "save", str(three), "--dir", str(tmp_path), "-q"]) == 2
    assert "scored on 3 item(s), fewer than a gate needs (min_items 4)" in capsys.readouterr().err
    code, out = gate_cli("--baseline", str(three), "--candidate", str(three))
    assert code == 2 and "min_items 4" in out
    relaxed = tmp_path / "relaxed.yaml"
    relaxed.write_text("min_items: 3\n")
    code, out = gate_cli("--baseline", str(three), "--candidate", str(three), "--policy", str(relaxed))
    assert code == 0, out


def test_a_gate_that_judged_nothing_does_not_pass(base, truncated, tmp_path):
    nothing = tmp_path / "nothing.yaml"
    nothing.write_text("required: []\ndefault: {gate: false}\n")
    code, out = gate_cli("--baseline", str(base), "--candidate", str(truncated), "--policy", str(nothing))
    assert code == 2, out
    assert "no summary could be judged" in out and gate_json(truncated)["status"] == "incomplete"


def test_a_required_metric_of_unjudgeable_values_is_exit_2(base, tmp_path):
    """A baseline whose summary is not a finite number (NaN terms in a hand-edited or
    foreign baseline file) is not judged, even where the bootstrap, which drops
    non-finite resamples, would still produce an interval."""
    data = json.loads(dumps(snapshot_run(base).to_json()))
    for name, rows in data["terms"].items():
        if name != "truncation_rate" and data["summaries"][name]["metric"] == "duration":
            data["terms"][name] = [[1.0, 0.0] for _ in rows]  # no value at all: too few items
    data["terms"]["truncation_rate"][0] = [float("nan"), 1.0]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    required = tmp_path / "required.yaml"
    required.write_text("required: [duration]\n")
    code, out = gate_cli("--baseline", str(broken), "--candidate", str(base), "--policy", str(required))
    assert code == 2, out
    assert "required metric 'duration' could not be judged" in out and "not a finite number" in out


def test_identical_reruns_still_pass_with_the_default_policy(base, seeded_run, make_run):
    again = make_run("seeded-1-trust", suite="smoke", system="evalkit_gate_plugin:SeededEspeak", seed=1)
    code, out = gate_cli("--baseline", str(base), "--candidate", str(again))
    assert code == 0, out
    assert gate_json(again)["problems"] == []
