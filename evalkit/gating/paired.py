"""Paired item bootstrap of candidate - baseline for ratio-of-sums summaries.

Both runs scored the same items, so item difficulty cancels when the same resampled
items are used for both sides: the interval of the *difference* is much narrower
than the two runs' separate intervals would suggest. Each resample draws shared item
ids with replacement and recomputes both ratios (sum of numerators / sum of
denominators: corpus WER is total edits / total reference words, not a mean of
per-item WERs), so the interval is of exactly the statistic the summary reports.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from evalkit.metrics import stats

# More resamples than the per-run intervals (stats.DEFAULT_RESAMPLES = 2,000): a gate
# decides on the interval's edge, and the Monte-Carlo error of a 2.5% percentile
# shrinks with the square root of the number of resamples.
DEFAULT_RESAMPLES = 4000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class PairedDelta:
    n_shared: int  # items with terms in both runs
    baseline: float | None  # the summary over the shared items
    candidate: float | None
    delta: float | None  # candidate - baseline
    ci95: tuple[float, float] | None  # of delta; None with fewer than two shared items

    def to_json(self) -> dict:
        return {"n_shared": self.n_shared, "baseline": self.baseline, "candidate": self.candidate,
                "delta": self.delta, "ci95": None if self.ci95 is None else list(self.ci95)}


def paired_delta(
    baseline: Mapping[str, tuple[float, float]],
    candidate: Mapping[str, tuple[float, float]],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = stats.CONFIDENCE,
) -> PairedDelta:
    """Candidate - baseline of sum(num)/sum(den) over the item ids both have."""
    shared = sorted(set(baseline) & set(candidate))
    base_num = [baseline[i][0] for i in shared]
    base_den = [baseline[i][1] for i in shared]
    cand_num = [candidate[i][0] for i in shared]
    cand_den = [candidate[i][1] for i in shared]
    base = stats.ratio(base_num, base_den) if shared else None
    cand = stats.ratio(cand_num, cand_den) if shared else None
    delta = None if base is None or cand is None else cand - base
    ci = None
    if delta is not None:
        ci = stats.bootstrap_ci(
            lambda bn, bd, cn, cd: cn.sum(axis=1) / cd.sum(axis=1) - bn.sum(axis=1) / bd.sum(axis=1),
            base_num, base_den, cand_num, cand_den,
            n_resamples=n_resamples, seed=seed, confidence=confidence,
        )
    return PairedDelta(len(shared), base, cand, delta, ci)

