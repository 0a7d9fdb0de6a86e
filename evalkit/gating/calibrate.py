"""Tolerances from the noise floor: repeated runs of one checkpoint with different seeds.

Every pair of runs is compared exactly as a gate would compare them. For a summary,
the noise floor is the largest, over all pairs, of |delta| and of the delta's standard
error (half the 95% interval width / 1.96: with few runs the observed deltas alone can
be small by chance). The tolerance is the noise floor times a margin. A gate then
fails only when the whole interval lies beyond it: with the default margin of 2 an
unchanged checkpoint would need a delta of about 2 + 1.96 = 4 standard errors to
fail (odds ~3e-5 per summary: gates do not flake), while a real change of that size
is still caught (gates do not sleep).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import combinations

from evalkit.gating.decision import provenance_differences, suite_identity
from evalkit.gating.paired import paired_delta
from evalkit.gating.policy import Policy, Tolerance
from evalkit.gating.snapshot import Snapshot
from evalkit.types import EvalkitError

Z95 = 1.959964  # two-sided 95% normal quantile: half-width / Z95 = standard error


def _check_same_checkpoint(snapshots: Sequence[Snapshot]) -> None:
    if len(snapshots) < 2:
        raise EvalkitError("calibrate needs at least two runs (same checkpoint, different seeds)")
    first = snapshots[0]
    for snap in snapshots[1:]:
        if suite_identity(snap) != suite_identity(first):
            raise EvalkitError(f"calibrate: {snap.source} ran another suite version than {first.source}")
        diffs = provenance_differences(
            {"system": first.system, "protocol": first.protocol, "metrics": first.metrics},
            {"system": snap.system, "protocol": snap.protocol, "metrics": snap.metrics},
        )
        if diffs:
            raise EvalkitError(f"calibrate needs runs of one system, checkpoint and metric setup; "
                               f"{snap.source} differs from {first.source}: {'; '.join(diffs)}")


def noise_floors(snapshots: Sequence[Snapshot], policy: Policy) -> dict[str, float]:
    """Summary -> noise floor over every pair (summaries without a direction, and timing
    summaries of runs on different machines, are left out)."""
    floors: dict[str, float] = {}
    for a, b in combinations(snapshots, 2):
        for name, summary in a.summaries.items():
            if summary.get("higher_is_better") is None or name not in a.terms or name not in b.terms:
                continue
            if summary.get("metric") in a.hardware_bound and a.machine != b.machine:
                continue
            d = paired_delta(a.terms[name], b.terms[name], n_resamples=policy.resamples,
                             seed=policy.seed, confidence=policy.confidence)
            if d.delta is None or d.ci95 is None:
                continue
            standard_error = (d.ci95[1] - d.ci95[0]) / (2 * Z95)
            floors[name] = max(floors.get(name, 0.0), abs(d.delta), standard_error)
    return floors


def calibrate(snapshots: Sequence[Snapshot], base: Policy, margin: float) -> tuple[Policy, dict[str, float]]:
    """(policy with calibrated absolute tolerances, noise floor by summary)."""
    if margin < 1:
        raise EvalkitError("--margin below 1 would fail the very runs it was calibrated on")
    _check_same_checkpoint(snapshots)
    floors = noise_floors(snapshots, base)
    summaries = dict(base.summaries)
    for name, floor in floors.items():
        summaries[name] = Tolerance(abs=float(f"{margin * floor:.4g}"), gate=base.tolerance_for(name).gate)
    calibration = {
        "runs": [s.source for s in snapshots],
        "pairs": len(snapshots) * (len(snapshots) - 1) // 2,
        "margin": margin,
        "noise_floor": {k: float(f"{v:.4g}") for k, v in floors.items()},
    }
    return replace(base, summaries=summaries, suite=snapshots[0].suite.get("name"),
                   calibration=calibration, source="calibrated"), floors


def describe(snapshots: Sequence[Snapshot], margin: float) -> str:
    first = snapshots[0]
    checkpoints = ", ".join(f"{k}={str(v)[:12]}" for k, v in (first.system.get("checkpoints") or {}).items()) or "none"
    seeds = ", ".join(str(s.seed) for s in snapshots)
    return (f"Gate policy for suite {first.suite.get('name')} v{first.suite.get('version')}, calibrated by "
            f"`evalkit gate calibrate`\nfrom {len(snapshots)} runs of system {first.system.get('name')} "
            f"(checkpoints: {checkpoints}; seeds {seeds}) on {first.machine}.\n"
            f"tolerance = {margin:g} x max over run pairs of (|delta|, standard error of delta).")
