"""The baselines committed under baselines/ still match their suites (else: re-bless)."""
from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.baseline import list_baselines, load_baseline, load_suite_policy, policy_path
from evalkit.gating.policy import load_policy
from evalkit.gating.standing import required_metrics, standing_problems
from evalkit.suites import builtin_suites, load_suite

REPO_BASELINES = Path(__file__).resolve().parents[2] / "baselines"
COMMITTED = list_baselines(REPO_BASELINES)


@pytest.mark.parametrize("suite, name, path", COMMITTED, ids=[f"{s}/{n}" for s, n, _ in COMMITTED])
def test_committed_baseline_matches_its_suite(suite, name, path):
    snap = load_baseline(path)
    assert snap.suite["name"] == suite and snap.counts["complete"]
    # The rule `baseline save` and every gate apply: a committed baseline a gate cannot stand on is useless.
    rules = load_suite_policy(None, suite, REPO_BASELINES)
    assert list(standing_problems(snap, rules, required_metrics(snap, rules))) == []
    if suite not in builtin_suites():
        pytest.skip(f"suite {suite} is not built in")
    current = load_suite(suite)
    assert snap.suite["content_hash"] == current.content_hash, (
        f"{path} was made on another version of suite {suite}: re-bless it (docs/ci.md)")
    assert set(snap.item_ids) == {item.id for item in current.items}
    policy = policy_path(suite, REPO_BASELINES)
    if policy:
        assert load_policy(policy).suite in (None, suite)


def test_smoke_baselines_are_committed():
    assert {("smoke", "espeak"), ("smoke", "ground-truth")} <= {(s, n) for s, n, _ in COMMITTED}
