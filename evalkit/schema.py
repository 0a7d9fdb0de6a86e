"""The records of a run directory's three files, each with one typed home: run.json
(`RunInfo`), a line of samples.jsonl (`Sample`, with `AudioFile` and `Timing`), and
metrics.json (`RunMetrics` of `SummaryRow`s). docs/run-directory.md describes the files.

The driver builds these records and writes their `to_json()`; readers (evalkit.runlog,
`api.load_run`) parse with `from_json()`. A file written by this evalkit reads back to
the same JSON (`X.from_json(d).to_json() == d`, tests/core/test_schema.py), so reading
and rewriting a run never changes it; fields a record does not know (a file from a newer
evalkit) are kept in `extra` and written back. Fields an older file lacks read as None.

Nothing here does I/O, imports numpy, or knows about metrics or systems.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from evalkit.types import ItemError

SCHEMA_VERSION = 1


def _unknown(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `data` that are not fields of `cls` (kept, and written back)."""
    known = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k not in known}


def failure_from_json(data: Mapping[str, Any] | None) -> ItemError | None:
    """An item's (or a metric's) failure as stored; None when there is none."""
    if not data:
        return None
    return ItemError(str(data.get("type", "")), str(data.get("message", "")), data.get("stage"))


# -- samples.jsonl --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AudioFile:
    """The generated audio as stored: `audio/<sha256>.flac`, channels as generated."""

    path: str  # relative to the run directory
    sha256: str
    seconds: float
    sample_rate: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "seconds": self.seconds, "sample_rate": self.sample_rate}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> AudioFile | None:
        if not data:
            return None
        return cls(str(data["path"]), str(data["sha256"]), float(data["seconds"]), int(data["sample_rate"]))


@dataclass(frozen=True)
class Timing:
    """How long the item took to synthesize (absent for systems that generate nothing)."""

    seconds: float  # this item's share of the synthesis wall time
    latency_seconds: float | None  # wall time of the call that produced it
    batch_size: int | None
    stages: Mapping[str, float] = field(default_factory=dict)
    from_cache: bool = False  # served from the generation cache: the time is the original run's

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "latency_seconds": self.latency_seconds, "batch_size": self.batch_size,
                "stages": dict(self.stages), "from_cache": self.from_cache}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Timing | None:
        if not data:
            return None
        return cls(float(data["seconds"]), data.get("latency_seconds"), data.get("batch_size"),
                   dict(data.get("stages") or {}), bool(data.get("from_cache", False)))


@dataclass(frozen=True)
class Sample:
    """One line of samples.jsonl: an item, what was generated, its per-item scores, what failed."""

    item_id: str
    text: str
    tags: tuple[str, ...]
    seed: int | None
    audio: AudioFile | None
    timing: Timing | None
    system_extras: Mapping[str, Any]
    scores: Mapping[str, Mapping[str, Any]]  # metric -> its per-item values (sufficient statistics)
    not_applicable: Mapping[str, str]  # metric -> why it does not apply to this item
    metric_errors: Mapping[str, ItemError]  # metric -> its failure on this item
    error: ItemError | None  # the item's own failure (nothing was scored)
    finished: str | None  # UTC time the line was written

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def transcript(self) -> str | None:
        """The ASR transcript when the run scored intelligibility (the `wer` metric)."""
        value = (self.scores.get("wer") or {}).get("transcript")
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id, "text": self.text, "tags": list(self.tags), "seed": self.seed,
            "audio": self.audio.to_json() if self.audio else None,
            "timing": self.timing.to_json() if self.timing else None,
            "system_extras": dict(self.system_extras), "scores": dict(self.scores),
            "not_applicable": dict(self.not_applicable),
            "metric_errors": {m: e.to_json() for m, e in self.metric_errors.items()},
            "error": self.error.to_json() if self.error else None,
            "finished": self.finished,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sample:
        errors = {m: failure_from_json(e) for m, e in (data.get("metric_errors") or {}).items()}
        return cls(
            item_id=str(data["item_id"]), text=str(data.get("text") or ""), tags=tuple(data.get("tags") or ()),
            seed=data.get("seed"), audio=AudioFile.from_json(data.get("audio")),
            timing=Timing.from_json(data.get("timing")), system_extras=dict(data.get("system_extras") or {}),
            scores=dict(data.get("scores") or {}), not_applicable=dict(data.get("not_applicable") or {}),
            metric_errors={m: e for m, e in errors.items() if e is not None},
            error=failure_from_json(data.get("error")), finished=data.get("finished"),
        )


# -- metrics.json ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SummaryRow:
    """One summary of metrics.json (`wer`, `wer[numbers]`, `sim_o`, ...): a metric's
    evalkit.metrics.base.Summary with the metric that produced it."""

    name: str
    value: float | None
    n: int
    n_failed: int
    higher_is_better: bool | None
    ci95: tuple[float, float] | None
    metric: str | None  # the metric that produced it
    metric_version: str | None
    n_not_applicable: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)  # protocol, main, errors, ref_words, p10, ...

    @property
    def main(self) -> bool:
        return bool(self.extra.get("main"))

    @classmethod
    def of(cls, name: str, summary: Any, metric: str, metric_version: str) -> SummaryRow:
        """From a metric's Summary (evalkit.metrics.base)."""
        return cls.from_json(name, {**summary.to_json(), "metric": metric, "metric_version": metric_version})

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value, "n": self.n, "n_failed": self.n_failed, "n_not_applicable": self.n_not_applicable,
            "higher_is_better": self.higher_is_better,
            "ci95": None if self.ci95 is None else [self.ci95[0], self.ci95[1]],
            **self.extra, "metric": self.metric, "metric_version": self.metric_version,
        }

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> SummaryRow:
        ci = data.get("ci95")
        return cls(
            name=name, value=data.get("value"), n=int(data.get("n", 0)), n_failed=int(data.get("n_failed", 0)),
            higher_is_better=data.get("higher_is_better"), ci95=(float(ci[0]), float(ci[1])) if ci else None,
            metric=data.get("metric"), metric_version=data.get("metric_version"),
            n_not_applicable=int(data.get("n_not_applicable", 0)), extra=_unknown(cls, data),
        )


@dataclass(frozen=True)
class RunMetrics:
    """metrics.json: counts and every summary of the run's items so far."""

    run_id: str
    suite: Mapping[str, Any]  # name, version, content_hash
    system: str
    protocol: str | None
    main_metric: str | None  # the headline summary (evalkit.summary.headline)
    n_items: int  # planned
    n_done: int
    n_failed: int  # items that failed (metric failures are in `failures` by stage)
    complete: bool
    failures: Mapping[str, int]  # stage -> count
    summaries: Mapping[str, SummaryRow]  # the file's "metrics"
    schema_version: int = SCHEMA_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version, "run_id": self.run_id, "suite": dict(self.suite),
            "system": self.system, "protocol": self.protocol, "main_metric": self.main_metric,
            "n_items": self.n_items, "n_done": self.n_done, "n_failed": self.n_failed, "complete": self.complete,
            "failures": dict(self.failures), "metrics": {name: row.to_json() for name, row in self.summaries.items()},
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunMetrics:
        return cls(
            run_id=str(data.get("run_id", "")), suite=dict(data.get("suite") or {}), system=str(data.get("system", "")),
            protocol=data.get("protocol"), main_metric=data.get("main_metric"), n_items=int(data.get("n_items", 0)),
            n_done=int(data.get("n_done", 0)), n_failed=int(data.get("n_failed", 0)),
            complete=bool(data.get("complete", False)), failures=dict(data.get("failures") or {}),
            summaries={name: SummaryRow.from_json(name, row) for name, row in (data.get("metrics") or {}).items()},
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
            extra={k: v for k, v in _unknown(cls, data).items() if k != "metrics"},
        )


# -- run.json -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunInfo:
    """run.json: what was run (identity), with what (provenance), and every invocation."""

    run_id: str
    created: str | None
    evalkit_version: str | None
    git: Mapping[str, Any]  # sha, dirty
    python: str | None
    packages: Mapping[str, str | None]
    hardware: Mapping[str, Any]
    device: str | None
    suite: Mapping[str, Any]  # name, version, content_hash, n_items, main_metric, spec
    system: Mapping[str, Any]  # name, options (as resolved), version, checkpoints (component -> path, sha256)
    metrics: Sequence[Mapping[str, Any]]  # every metric's provenance (name, version, options, weights, ...)
    targets: Mapping[str, Any]  # import paths of the system's and metrics' classes (plugins included)
    protocol: str | None
    seed: int | None
    command: Sequence[str]
    identity: Mapping[str, Any]  # what a resumed run must match
    invocations: Sequence[Mapping[str, Any]]  # time, command, limit, git, hardware, executor, phases_seconds
    schema_version: int = SCHEMA_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("schema_version", "extra")}
        out = {"schema_version": self.schema_version, **out, **self.extra}
        out["metrics"], out["command"] = list(self.metrics), list(self.command)
        out["invocations"] = [dict(i) for i in self.invocations]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInfo:
        return cls(
            run_id=str(data.get("run_id", "")), created=data.get("created"),
            evalkit_version=data.get("evalkit_version"), git=dict(data.get("git") or {}), python=data.get("python"),
            packages=dict(data.get("packages") or {}), hardware=dict(data.get("hardware") or {}),
            device=data.get("device"), suite=dict(data.get("suite") or {}), system=dict(data.get("system") or {}),
            metrics=list(data.get("metrics") or []), targets=dict(data.get("targets") or {}),
            protocol=data.get("protocol"), seed=data.get("seed"), command=list(data.get("command") or []),
            identity=dict(data.get("identity") or {}), invocations=[dict(i) for i in data.get("invocations") or []],
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)), extra=_unknown(cls, data),
        )
