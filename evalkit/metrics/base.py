"""The metric interface.

A metric scores batches of generated audio, item by item, into small JSON dicts of
*sufficient statistics* (for WER: edit counts and reference length, not just a
ratio), and aggregates those into one or more summaries. Because summaries are
computed from stored per-item values, shards merge exactly and confidence intervals
can be recomputed from samples.jsonl alone.

Metrics follow torchmetrics' split: the arithmetic is a pure function in the metric's
module; the class here is a thin adapter that loads models and batches inputs.
"""
from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Mapping, Sequence

from evalkit.cache import content_key
from evalkit.metrics import stats
from evalkit.options import option_defaults, resolve_options
from evalkit.types import EvalkitError, Item, ItemError, Synthesis

# Per item key: (numerator, denominator) of a summary that is sum(numerators) / sum(denominators)
# over items (a mean when every denominator is 1). See Metric.paired_terms.
Terms = Mapping[Any, tuple[float, float]]

# Options that decide how a metric runs, not what it computes: left out of provenance
# (so out of run identities and cache keys). A metric whose values move with them
# documents by how much (docs/metrics.md, "Batch sizes").
EXECUTION_OPTIONS = frozenset({"batch_size"})


@dataclass(frozen=True)
class ScoreInput:
    """One generated utterance and everything a metric may compare it against."""

    item: Item
    audio: Any  # float32 mono numpy array (the mean of the channels)
    sample_rate: int
    audio_sha256: str
    synthesis: Synthesis
    system: str = ""
    # sha256 of the item's prompt / reference audio files (None when absent).
    prompt_sha256: str | None = None
    reference_sha256: str | None = None
    # (frames, channels) float32 when the stored audio has several channels, else None:
    # the reproduction protocols pick a channel as their reference scripts do.
    channels: Any = None

    @property
    def all_channels(self) -> Any:
        """The stored audio: (frames, channels), or (frames,) when mono."""
        return self.audio if self.channels is None else self.channels


@dataclass(frozen=True)
class Summary:
    """One aggregate row of metrics.json."""

    value: float | None
    n: int
    n_failed: int
    higher_is_better: bool | None
    ci95: tuple[float, float] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Items the summary could not cover (no usable reference, no prompt, ...): neither
    # scored nor failed. n + n_failed + n_not_applicable is every item with a record.
    n_not_applicable: int = 0

    def to_json(self) -> dict[str, Any]:
        out = {
            "value": self.value,
            "n": self.n,
            "n_failed": self.n_failed,
            "n_not_applicable": self.n_not_applicable,
            "higher_is_better": self.higher_is_better,
            "ci95": None if self.ci95 is None else [self.ci95[0], self.ci95[1]],
        }
        out.update(self.extra)
        return out


def summary_of_terms(terms: Terms, n_failed: int, higher_is_better: bool | None, *, n: int | None = None,
                     n_not_applicable: int = 0, **extra: Any) -> Summary:
    """The summary of a ratio of per-item sums, with its item-bootstrap interval.

    Metrics build every such figure of metrics.json from their own `paired_terms`, so a
    gate or A/B report resamples exactly the quantity the run reports. `n` defaults to
    the number of items with terms.
    """
    numerators = [float(t[0]) for t in terms.values()]
    denominators = [float(t[1]) for t in terms.values()]
    return Summary(
        value=stats.ratio(numerators, denominators),
        n=len(numerators) if n is None else n,
        n_failed=n_failed,
        higher_is_better=higher_is_better,
        ci95=stats.ratio_ci(numerators, denominators),
        extra=extra,
        n_not_applicable=n_not_applicable,
    )


def aggregate_with_counts(metric: Metric, values: Sequence[Mapping[str, Any]], failed: Sequence[Item],
                          not_applicable: Sequence[Item]) -> dict[str, Summary]:
    """metric.aggregate with every summary's n_not_applicable filled in.

    A metric whose aggregate takes `not_applicable` counts them per summary itself (a
    tag row counts the items with that tag); for one written before (a plugin's
    aggregate(values, failed)) every summary gets the number of not-applicable items."""
    import inspect

    if "not_applicable" in inspect.signature(metric.aggregate).parameters:
        return metric.aggregate(values, failed, not_applicable=not_applicable)
    summaries = metric.aggregate(values, failed)
    return {name: replace(s, n_not_applicable=len(not_applicable)) for name, s in summaries.items()}


class Metric(ABC):
    """Base class for metrics; see the module docstring."""

    name: ClassVar[str] = "metric"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    higher_is_better: ClassVar[bool | None] = None
    # Of "text", "prompt_audio", "reference_audio", "timings": an item lacking one is "not
    # applicable" for this metric (reported as such, never as a failure).
    requires: ClassVar[frozenset[str]] = frozenset()
    # Per-item values depend only on audio + item + options (not on timings), so they
    # can be cached by content. Timing metrics set this False.
    cacheable: ClassVar[bool] = True
    # Items per score() call the runner aims for.
    batch_size: ClassVar[int] = 16
    # The metric's options: a frozen dataclass (evalkit.options); None: it has none.
    Options: ClassVar[type | None] = None

    def __init__(self, **options: Any) -> None:
        # `opts`: the validated Options instance; `options`: its JSON form (run.json, cache keys).
        self.opts, self.options = resolve_options("metric", self.name, type(self), options)
        if "batch_size" in self.options:  # an option where the metric offers it (wer.batch_size=1)
            size = self.options["batch_size"]
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise EvalkitError(f"metric {self.name!r}: batch_size must be an integer >= 1, not {size!r}")
            self.batch_size = size

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """Every option the metric accepts, with its default."""
        return {} if cls.Options is None else option_defaults(cls.Options)

    def provenance(self) -> dict[str, Any]:
        """Name, version, options, and (for model-based metrics) model id and weights
        sha256, normalizer, decoding options. Recorded in run.json; part of cache keys.
        May resolve weights (not load them)."""
        options = {k: v for k, v in self.options.items() if k not in EXECUTION_OPTIONS}
        return {"name": self.name, "version": self.version, "options": options}

    def setup(self, device: str) -> None:  # noqa: B027 - optional hook
        """Load models onto `device`."""

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Release models."""

    def item_not_applicable(self, item: Item) -> str | None:
        """Why this item cannot be scored by this metric, judged from the item alone
        (None if it can). Also decides whether a failed item counts against the metric."""
        if "text" in self.requires and not item.text:
            return "item has no text"
        if "prompt_audio" in self.requires and item.prompt_audio is None:
            return "item has no speaker prompt"
        if "reference_audio" in self.requires and item.reference_audio is None:
            return "item has no ground-truth audio"
        return None

    def not_applicable(self, inp: ScoreInput) -> str | None:
        """Why this generated utterance cannot be scored (None if it can)."""
        if "timings" in self.requires and inp.synthesis.seconds is None:
            return "system reported no synthesis time"
        return self.item_not_applicable(inp.item)

    @abstractmethod
    def score(self, batch: Sequence[ScoreInput]) -> list[dict[str, Any] | ItemError]:
        """Per-item values (JSON dicts), one per input, or an ItemError for an input
        that failed."""

    @abstractmethod
    def aggregate(
        self, values: Sequence[Mapping[str, Any]], failed: Sequence[Item], not_applicable: Sequence[Item] = ()
    ) -> dict[str, Summary]:
        """Summaries keyed by metrics.json name (e.g. "wer", "wer_macro"), from the
        per-item values of scored items and the items that failed (generation or this
        metric). Items that were not applicable are in neither: they are
        `not_applicable`, counted by each summary as n_not_applicable (a metric may
        leave the parameter out; see aggregate_with_counts)."""

    def paired_terms(
        self, values: Mapping[str, Mapping[str, Any]], failed: Mapping[str, Item]
    ) -> dict[str, dict[str, tuple[float, float]]]:
        """Per summary name: item id -> (numerator, denominator), such that the summary's
        value is sum(numerators) / sum(denominators) over items.

        This is what paired comparisons (gates, A/B reports) resample: for shared item
        ids, candidate minus baseline of that ratio. `values` are the per-item values of
        scored items and `failed` the items that failed, both keyed by item id. Summaries
        that are not a ratio of per-item sums are left out (and cannot be gated).
        """
        return {}

    @functools.cached_property
    def provenance_key(self) -> str:
        """Digest of provenance(). Options are fixed at construction, so it is computed
        once, not for every item whose cache entry it keys."""
        return content_key(self.provenance())

    def cache_key(self, inp: ScoreInput) -> str:
        """Content key for this metric's value on this input: audio content, the item
        fields the metric reads, and the metric's provenance (version, options,
        weights hash). Never paths."""
        item = inp.item
        reads_text = "text" in self.requires
        return content_key(
            "score", self.provenance_key, inp.audio_sha256,
            item.text if reads_text else None, item.reference_text if reads_text else None,
            inp.prompt_sha256 if "prompt_audio" in self.requires else None, inp.reference_sha256,
        )


class WeightedMetric(Metric):
    """A metric scored by a model whose weights its `model` option names (a weights
    name of evalkit.weights, or a path): resolved once, on first use, and recorded in
    the provenance by source and sha256, so that a cache entry or a gate never mixes
    two models."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._weights = None

    @property
    def weights(self):
        if self._weights is None:
            from evalkit.weights import resolve_any

            self._weights = resolve_any(self.options["model"])
        return self._weights

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "weights": {"source": self.weights.source, "sha256": self.weights.sha256}}


def failed_for(metric: Metric, item: Item, record: dict[str, Any], system_generates: bool) -> bool:
    """Does this record count as a failure for this metric?

    A metric error always does. A generation failure does when the metric would have
    applied to the item (a speaker-similarity failure is not counted for an item that
    has no speaker prompt; RTF never counts failures of systems that generate nothing).
    """
    if metric.name in record.get("metric_errors", {}):
        return True
    if record.get("error") is None:
        return False
    if "timings" in metric.requires and not system_generates:
        return False
    return metric.item_not_applicable(item) is None
