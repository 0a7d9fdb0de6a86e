"""Scoring step: generated items -> per-item metric values, via the score cache.

Each metric sees only the items it applies to; values come from the cache when the
metric is content-cacheable; models load only when something is uncached. A metric
that raises on a batch is retried item by item, so one bad item fails alone (for
that metric only).
"""
from __future__ import annotations

from typing import Any, Sequence

from evalkit.cache import JsonCache
from evalkit.metrics.base import Metric, ScoreInput
from evalkit.progress import Progress
from evalkit.runner.generate import Generated
from evalkit.types import ItemError


class Scorer:
    def __init__(self, metrics: Sequence[Metric], device: str, progress: Progress | None = None) -> None:
        self.progress = progress or Progress(None, quiet=True)
        self.metrics = list(metrics)
        self.device = device
        self.cache = JsonCache("scores")
        self._ready: set[str] = set()

    def run(self, generated: Sequence[Generated]) -> list[dict[str, dict[str, Any]]]:
        """Per generated item: {"scores": {...}, "not_applicable": {...}, "metric_errors": {...}}."""
        results = [{"scores": {}, "not_applicable": {}, "metric_errors": {}} for _ in generated]
        for metric in self.metrics:
            todo: list[tuple[int, ScoreInput, str | None]] = []
            for i, gen in enumerate(generated):
                if gen.score_input is None:
                    continue  # failed before scoring; counted by the aggregator
                reason = metric.not_applicable(gen.score_input)
                if reason:
                    results[i]["not_applicable"][metric.name] = reason
                    continue
                key = metric.cache_key(gen.score_input) if metric.cacheable else None
                hit = self.cache.get(key) if key else None
                if hit is not None:
                    results[i]["scores"][metric.name] = hit["value"]
                else:
                    todo.append((i, gen.score_input, key))
            for start in range(0, len(todo), metric.batch_size):
                chunk = todo[start : start + metric.batch_size]
                values = self._score(metric, [inp for _, inp, _ in chunk])
                for (i, _, key), value in zip(chunk, values):
                    if isinstance(value, ItemError):
                        results[i]["metric_errors"][metric.name] = value.to_json()
                        continue
                    results[i]["scores"][metric.name] = value
                    if key:
                        self.cache.put(key, {"value": value, "metric": metric.name})
        return results

    def _score(self, metric: Metric, inputs: list[ScoreInput]) -> list[dict | ItemError]:
        if metric.name not in self._ready:
            with self.progress.phase(f"{metric.name}: loading on {self.device}"):
                metric.setup(self.device)
            self._ready.add(metric.name)
        stage = f"score:{metric.name}"
        try:
            values = metric.score(inputs)
            if len(values) != len(inputs):
                raise RuntimeError(f"metric {metric.name} returned {len(values)} values for {len(inputs)} inputs")
            return values
        except Exception as exc:
            if len(inputs) == 1:
                return [ItemError.from_exception(exc, stage)]
            return [v for inp in inputs for v in self._score(metric, [inp])]

    def teardown(self) -> None:
        for metric in self.metrics:
            if metric.name in self._ready:
                metric.teardown()
