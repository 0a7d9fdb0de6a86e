"""Item-level bootstrap statistics shared by metrics, reports and gates.

Every aggregate evalkit reports carries a 95% confidence interval from resampling
*items* with replacement (the unit of variation in a TTS evaluation is the prompt).
Ratio statistics such as corpus WER (sum of edits / sum of reference words) are
resampled as a ratio of sums, not as a mean of ratios; a mean is the ratio whose
denominators are all 1 (`Metric.paired_terms`). The seed is fixed so that the same run
always reports the same interval.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
CONFIDENCE = 0.95


def _resample_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_resamples, n))


def bootstrap_ci(
    statistic: Callable[..., np.ndarray],
    *columns: Sequence[float],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of `statistic` over items.

    `columns` are per-item arrays of equal length (e.g. edits and reference words);
    `statistic` receives each column indexed by an (n_resamples, n) index matrix and
    must reduce along axis 1. Returns None with fewer than two items, where an interval
    says nothing.
    """
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("bootstrap columns differ in length")
    if n < 2:
        return None
    idx = _resample_indices(n, n_resamples, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = statistic(*(a[idx] for a in arrays))
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return None
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def ratio_ci(
    numerators: Sequence[float], denominators: Sequence[float], **kwargs
) -> tuple[float, float] | None:
    """CI of sum(numerators) / sum(denominators), resampling items."""
    return bootstrap_ci(lambda a, b: a.sum(axis=1) / b.sum(axis=1), numerators, denominators, **kwargs)


def ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float | None:
    den = float(np.sum(denominators))
    return None if den == 0 else float(np.sum(numerators)) / den


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 90)) -> dict[str, float]:
    """{"p50": ..., "p90": ...} of per-item values (empty dict when there are none)."""
    if not len(values):
        return {}
    return {f"p{q:g}": float(v) for q, v in zip(qs, np.percentile(values, qs))}
