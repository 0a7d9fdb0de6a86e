"""What a gate stands on: the rule a run must meet to be a baseline or a candidate.

A comparison means something only between runs that are finished, healthy (few
failures) and judgeable (each required metric scored on enough items for a paired
interval). `evalkit baseline save` refuses a run that breaks the rule and `evalkit gate`
applies it to both runs (docs/ci.md, "What a gate stands on").
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from evalkit.gating.policy import Policy
from evalkit.gating.snapshot import Snapshot


def standing_problems(snap: Snapshot, policy: Policy, required: Iterable[str]) -> Iterator[str]:
    """Why a gate cannot stand on this run (as baseline or as candidate): it is
    unfinished, too many of its items failed, or it scored a required metric on too few
    items for a paired interval to mean anything (policy.min_items)."""
    if not snap.counts.get("complete"):
        yield f"unfinished run: {snap.counts.get('n_done')} of {snap.counts.get('n_items')} items"
    rate, where = failure_rate(snap)
    if rate > policy.max_failure_rate:
        yield f"failure rate {rate:.1%} ({where}) exceeds the policy's {policy.max_failure_rate:.1%}"
    for name in required:
        if name not in snap.metrics:
            yield f"required metric {name!r} is absent"
            continue
        scored = judgeable_items(snap, name, policy)
        if scored < policy.min_items:
            yield (f"required metric {name!r} scored on {scored} item(s), fewer than a gate needs "
                   f"(min_items {policy.min_items})")


def judgeable_items(snap: Snapshot, metric: str, policy: Policy) -> int:
    """The most items any gated, paired summary of `metric` was scored on in this run
    (failed items excluded: a summary that counts failures as errors has terms for
    them, but they say nothing about the metric)."""
    counts = [s.get("n") or 0 for name, s in snap.summaries.items()
              if s.get("metric", name) == metric and name in snap.terms and _gated(name, s, policy)]
    return max(counts, default=0)


def _gated(name: str, summary: Mapping[str, Any], policy: Policy) -> bool:
    return summary.get("higher_is_better") is not None and policy.tolerance_for(name).gate


def required_metrics(base: Snapshot, policy: Policy, cand: Snapshot | None = None) -> tuple[str, ...]:
    """The policy's `required` list; by default every metric of the baseline that
    applied to some item (scored or failed) and has a gated, paired summary. Timing
    metrics are left out of the default when the two runs were made on different
    machines: they are not compared then (docs/ci.md), and the rest of the gate decides."""
    if policy.required is not None:
        return policy.required
    out = []
    for metric in base.metrics:
        summaries = [(n, s) for n, s in base.summaries.items() if s.get("metric", n) == metric]
        applied = any((s.get("n") or 0) + (s.get("n_failed") or 0) for _, s in summaries)
        gated = any(n in base.terms and _gated(n, s, policy) for n, s in summaries)
        elsewhere = cand is not None and metric in base.hardware_bound and base.machine != cand.machine
        if applied and gated and not elsewhere:
            out.append(metric)
    return tuple(out)


def failure_rate(snap: Snapshot) -> tuple[float, str]:
    """The worst of: items whose generation failed, and each summary's failed share."""
    n_items = snap.counts.get("n_items") or 0
    worst = (snap.counts.get("n_failed", 0) / n_items if n_items else 0.0, "generation")
    for name, s in snap.summaries.items():
        scored = (s.get("n") or 0) + (s.get("n_failed") or 0)
        if scored and s.get("n_failed", 0) / scored > worst[0]:
            worst = (s["n_failed"] / scored, name)
    return worst
