"""Quality predictors: a model's MOS estimate per utterance, averaged over items.

Subclasses (``utmos``, ``dnsmos``) predict one or more named scores per clip; this base
class turns them into summaries. Each summary is the mean of its per-item score with the
item-bootstrap interval, built from the metric's paired terms (score, 1) so that a gate
judges exactly the reported figure. Predictors here score one clip at a time: both
models normalize over the whole input (group norm, utterance-level pooling), so padding
a batch would change every score; batch size is then only how many items a score()
call receives, and never moves a value.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from evalkit.metrics import stats
from evalkit.metrics.base import ScoreInput, Summary, WeightedMetric, summary_of_terms
from evalkit.types import Item, ItemError


@dataclass(frozen=True)
class QualityOptions:
    model: str = ""  # weights name or path; each predictor sets its own default
    batch_size: int = 16  # items per score() call (clips are scored one at a time, see above)


class QualityPredictor(WeightedMetric):
    higher_is_better = True
    requires = frozenset()  # audio only: every generated item is scored
    # Per-item field -> summary name, the headline first (its histogram leads the report).
    summaries: ClassVar[Mapping[str, str]] = {}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.device = "cpu"
        self._model = None

    def setup(self, device: str) -> None:
        self.device = device

    def teardown(self) -> None:
        self._model = None

    @abstractmethod
    def predict(self, audio: np.ndarray, sample_rate: int) -> dict[str, float]:
        """{field: score} of one mono clip."""

    def score(self, batch: Sequence[ScoreInput]) -> list[dict[str, Any] | ItemError]:
        return [{k: float(v) for k, v in self.predict(inp.audio, inp.sample_rate).items()} for inp in batch]

    def paired_terms(self, values, failed):
        """Means of per-item scores: terms (score, 1); a failed item has none."""
        return {
            name: {k: (float(v[field]), 1.0) for k, v in values.items()
                   if v.get(field) is not None and math.isfinite(v[field])}
            for field, name in self.summaries.items()
        }

    def aggregate(self, values: Sequence[Mapping[str, Any]], failed: Sequence[Item],
                  not_applicable: Sequence[Item] = ()) -> dict[str, Summary]:
        terms = self.paired_terms(dict(enumerate(values)), {})
        return {
            name: summary_of_terms(terms[name], len(failed), True, n_not_applicable=len(not_applicable),
                                   **stats.percentiles([t[0] for t in terms[name].values()], (10, 50)))
            for name in self.summaries.values()
        }
