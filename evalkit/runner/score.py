"""Scoring: generated items -> per-item metric values.

Two halves, so that both executors share them:
- `ScorePlanner` (the driver): which metrics apply to an item, which values the score
  cache already has (when the metric is content-cacheable), and, once values come back,
  the record's `scores` / `not_applicable` / `metric_errors` and the cache entries.
- `ScoringUnit` (in-process, or inside a Ray worker): metrics with their models, loaded
  only when something is uncached; each metric scores many items per call, and a call
  that raises is retried item by item, so one bad item fails alone (for that metric only).
`Scorer` is both in one process.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from evalkit.cache import JsonCache
from evalkit.metrics.base import Metric, ScoreInput
from evalkit.progress import Progress
from evalkit.registry import target_of
from evalkit.runner.generate import Generated
from evalkit.types import ItemError

Value = dict[str, Any] | ItemError


@dataclass(frozen=True)
class ScoreRequest:
    """One generated utterance and the metrics (by name) that must still score it."""

    input: ScoreInput
    metrics: tuple[str, ...]


class ScorePlanner:
    """The driver's side of scoring: applicability, the score cache, the record fields."""

    def __init__(self, metrics: Sequence[Metric]) -> None:
        self.metrics = list(metrics)
        self.cache = JsonCache("scores")

    def plan(self, gen: Generated) -> tuple[dict[str, dict[str, Any]], ScoreRequest | None]:
        """The item's score fields as far as known without scoring, and what is left to compute."""
        result: dict[str, dict[str, Any]] = {"scores": {}, "not_applicable": {}, "metric_errors": {}}
        inp = gen.score_input
        if inp is None:
            return result, None  # failed before scoring; counted by the aggregator
        todo = []
        for metric in self.metrics:
            reason = metric.not_applicable(inp)
            if reason:
                result["not_applicable"][metric.name] = reason
                continue
            hit = self.cache.get(metric.cache_key(inp)) if metric.cacheable else None
            if hit is not None:
                result["scores"][metric.name] = hit["value"]
            else:
                todo.append(metric.name)
        return result, (ScoreRequest(inp, tuple(todo)) if todo else None)

    def finish(self, result: dict[str, dict[str, Any]], request: ScoreRequest | None,
               values: dict[str, Value]) -> dict[str, dict[str, Any]]:
        """Merge computed values into the item's fields (in metric order) and cache them."""
        if request is None:
            return result
        scores = dict(result["scores"])
        for metric in self.metrics:
            if metric.name not in request.metrics:
                continue
            value = values[metric.name]
            if isinstance(value, ItemError):
                result["metric_errors"][metric.name] = value.to_json()
                continue
            scores[metric.name] = value
            if metric.cacheable:
                self.cache.put(metric.cache_key(request.input), {"value": value, "metric": metric.name})
        result["scores"] = {m.name: scores[m.name] for m in self.metrics if m.name in scores}
        return result


class ScoringUnit:
    """Metrics with their models. Metric objects of later runs (sweep cells) with the same
    class and provenance are served by the instance already loaded."""

    def __init__(self, device: str, progress: Progress | None = None) -> None:
        self.device = device
        self.progress = progress or Progress(None, quiet=True)
        self._instances: dict[tuple[str, str], Metric] = {}
        self._ready: set[tuple[str, str]] = set()

    @staticmethod
    def _key(metric: Metric) -> tuple[str, str]:
        return target_of(type(metric)), metric.provenance_key

    def _loaded(self, metric: Metric) -> Metric:
        key = self._key(metric)
        instance = self._instances.setdefault(key, metric)
        if key not in self._ready:
            with self.progress.phase(f"{metric.name}: loading on {self.device}"):
                instance.setup(self.device)
            self._ready.add(key)
        return instance

    def prepare(self, metrics: Sequence[Metric]) -> None:
        """Load every metric's models now (a worker does this before its first item)."""
        for metric in metrics:
            self._loaded(metric)

    def run(self, metrics: Sequence[Metric], requests: Sequence[ScoreRequest]) -> list[dict[str, Value]]:
        """Per request: {metric name: per-item value or ItemError} for the metrics it names."""
        out: list[dict[str, Value]] = [{} for _ in requests]
        for metric in metrics:
            todo = [i for i, r in enumerate(requests) if metric.name in r.metrics]
            if not todo:
                continue
            instance = self._loaded(metric)
            for start in range(0, len(todo), metric.batch_size):
                chunk = todo[start : start + metric.batch_size]
                for i, value in zip(chunk, self._score(instance, [requests[i].input for i in chunk])):
                    out[i][metric.name] = value
        return out

    def _score(self, metric: Metric, inputs: list[ScoreInput]) -> list[Value]:
        try:
            values = metric.score(inputs)
            if len(values) != len(inputs):
                raise RuntimeError(f"metric {metric.name} returned {len(values)} values for {len(inputs)} inputs")
            return values
        except Exception as exc:
            if len(inputs) == 1:
                return [ItemError.from_exception(exc, f"score:{metric.name}")]
            return [v for inp in inputs for v in self._score(metric, [inp])]

    def teardown(self) -> None:
        for key in self._ready:
            self._instances[key].teardown()
        self._instances.clear()
        self._ready.clear()


def score_in_process(planner: ScorePlanner, unit: ScoringUnit,
                     generated: Sequence[Generated]) -> list[dict[str, dict[str, Any]]]:
    """The score fields of each generated item: cache hits from the planner, everything else
    computed by the unit in one pass."""
    plans = [planner.plan(gen) for gen in generated]
    requests = [request for _, request in plans if request is not None]
    values = iter(unit.run(planner.metrics, requests) if requests else [])
    return [planner.finish(partial, request, next(values) if request else {}) for partial, request in plans]


class Scorer:
    """Both halves in one process: the score fields of generated items, cache hits served,
    the rest computed in one pass (what the local executor does with its buffer)."""

    def __init__(self, metrics: Sequence[Metric], device: str, progress: Progress | None = None) -> None:
        self.planner = ScorePlanner(metrics)
        self.unit = ScoringUnit(device, progress)

    def run(self, generated: Sequence[Generated]) -> list[dict[str, dict[str, Any]]]:
        """Per generated item: {"scores": {...}, "not_applicable": {...}, "metric_errors": {...}}."""
        return score_in_process(self.planner, self.unit, generated)

    def teardown(self) -> None:
        self.unit.teardown()
