"""A run directory read back as typed records, as inspect_ai's logs are typed.

    from evalkit.api import load_run, leaderboard_df
    run = load_run("runs/smoke/espeak/seed0-…")
    run.summaries["wer"].value, run.summaries["wer"].ci95
    [s.item_id for s in run.samples if s.failed]
    run.samples_df()                     # one row per item (pandas; columns: docs/run-directory.md)
    leaderboard_df([run, other_run])     # one row per run

The records mirror the files (docs/run-directory.md): `Run` is run.json with metrics.json's
counts, `Sample` one line of samples.jsonl, `SummaryRow` one summary of metrics.json. They
are read-only views for analysis; what the writer needs stays in evalkit.store. Fields a
schema-1 file may lack (a run copied from an older evalkit) read as None or empty.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:  # pandas is imported only by the methods that build frames
    import pandas as pd


@dataclass(frozen=True)
class Failure:
    """Why an item (or one metric on it) failed: `stage` is load, generate, validate, store or score."""

    type: str
    message: str
    stage: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Failure | None:
        if not data:
            return None
        return cls(str(data.get("type", "")), str(data.get("message", "")), data.get("stage"))


@dataclass(frozen=True)
class AudioFile:
    path: str  # relative to the run directory
    sha256: str
    seconds: float
    sample_rate: int


@dataclass(frozen=True)
class Timing:
    seconds: float  # this item's share of the synthesis wall time
    latency_seconds: float | None  # wall time of the call that produced it
    batch_size: int | None
    stages: Mapping[str, float]
    from_cache: bool


@dataclass(frozen=True)
class Sample:
    """One item of the run: what was generated, its per-item scores, and what failed."""

    item_id: str
    text: str
    tags: tuple[str, ...]
    seed: int | None
    audio: AudioFile | None
    timing: Timing | None
    scores: Mapping[str, Mapping[str, Any]]  # metric -> its per-item values (sufficient statistics)
    not_applicable: Mapping[str, str]  # metric -> why it does not apply to this item
    metric_errors: Mapping[str, Failure]  # metric -> its failure on this item
    error: Failure | None  # the item's own failure (nothing was scored)
    system_extras: Mapping[str, Any]
    finished: str | None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def transcript(self) -> str | None:
        """The ASR transcript when the run scored intelligibility (the `wer` metric)."""
        value = (self.scores.get("wer") or {}).get("transcript")
        return value if isinstance(value, str) else None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sample:
        audio = data.get("audio")
        timing = data.get("timing")
        return cls(
            item_id=str(data["item_id"]),
            text=str(data.get("text") or ""),
            tags=tuple(data.get("tags") or ()),
            seed=data.get("seed"),
            audio=AudioFile(audio["path"], audio["sha256"], float(audio["seconds"]), int(audio["sample_rate"]))
            if audio else None,
            timing=Timing(float(timing["seconds"]), timing.get("latency_seconds"), timing.get("batch_size"),
                          dict(timing.get("stages") or {}), bool(timing.get("from_cache", False)))
            if timing else None,
            scores=dict(data.get("scores") or {}),
            not_applicable=dict(data.get("not_applicable") or {}),
            metric_errors={m: Failure.from_json(e) for m, e in (data.get("metric_errors") or {}).items() if e},
            error=Failure.from_json(data.get("error")),
            system_extras=dict(data.get("system_extras") or {}),
            finished=data.get("finished"),
        )


@dataclass(frozen=True)
class SummaryRow:
    """One summary of metrics.json (`wer`, `wer[numbers]`, `sim_o`, ...)."""

    name: str
    value: float | None
    n: int
    n_failed: int
    higher_is_better: bool | None
    ci95: tuple[float, float] | None
    metric: str | None  # the metric that produced it
    metric_version: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)  # protocol, main, errors, ref_words, p10, ...

    @property
    def main(self) -> bool:
        return bool(self.extra.get("main"))

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> SummaryRow:
        known = {"value", "n", "n_failed", "higher_is_better", "ci95", "metric", "metric_version"}
        ci = data.get("ci95")
        return cls(
            name=name, value=data.get("value"), n=int(data.get("n", 0)), n_failed=int(data.get("n_failed", 0)),
            higher_is_better=data.get("higher_is_better"), ci95=(float(ci[0]), float(ci[1])) if ci else None,
            metric=data.get("metric"), metric_version=data.get("metric_version"),
            extra={k: v for k, v in data.items() if k not in known},
        )


@dataclass(frozen=True)
class SuiteRef:
    name: str
    version: str
    content_hash: str
    n_items: int | None
    main_metric: str | None


@dataclass(frozen=True)
class SystemRef:
    name: str
    options: Mapping[str, Any]
    checkpoints: Mapping[str, str | None]  # component -> sha256

    @property
    def preset(self) -> str | None:
        return self.options.get("preset")


@dataclass(frozen=True)
class Run:
    """A run directory: provenance (run.json), its samples and its summaries."""

    dir: Path
    run_id: str
    created: str | None
    suite: SuiteRef
    system: SystemRef
    protocol: str | None
    seed: int | None
    device: str | None
    samples: tuple[Sample, ...]
    summaries: Mapping[str, SummaryRow]  # empty until an invocation has finished (no metrics.json)
    complete: bool  # every planned item is done (metrics.json)
    info: Mapping[str, Any]  # run.json as written: git, packages, hardware, metric provenance, invocations

    @property
    def main_metric(self) -> str | None:
        return self.suite.main_metric

    @property
    def n_failed(self) -> int:
        return sum(s.failed for s in self.samples)

    def samples_df(self) -> pd.DataFrame:
        """One row per item (columns: docs/run-directory.md, "Tables")."""
        from evalkit.export import samples_frame

        return samples_frame([self])


def load_run(run_dir: str | Path) -> Run:
    """Read a finished or partial run directory (StoreError when it is not one)."""
    from evalkit.store import load_run as read

    run_dir = Path(run_dir)
    info, records, metrics = read(run_dir)
    suite = info.get("suite") or {}
    system = info.get("system") or {}
    checkpoints = {name: (c or {}).get("sha256") if isinstance(c, Mapping) else c
                   for name, c in (system.get("checkpoints") or {}).items()}
    return Run(
        dir=run_dir,
        run_id=str(info.get("run_id") or run_dir.name),
        created=info.get("created"),
        suite=SuiteRef(str(suite.get("name", "")), str(suite.get("version", "")), str(suite.get("content_hash", "")),
                       suite.get("n_items"), (metrics or {}).get("main_metric") or suite.get("main_metric")),
        system=SystemRef(str(system.get("name", "")), dict(system.get("options") or {}), checkpoints),
        protocol=info.get("protocol"),
        seed=info.get("seed"),
        device=info.get("device"),
        samples=tuple(Sample.from_json(r) for r in records),
        summaries={name: SummaryRow.from_json(name, s) for name, s in ((metrics or {}).get("metrics") or {}).items()},
        complete=bool((metrics or {}).get("complete", False)),
        info=info,
    )


def leaderboard_df(runs: Iterable[Run | str | Path]) -> pd.DataFrame:
    """One row per run: identity, counts, and every summary's value with its 95% CI."""
    from evalkit.export import leaderboard_frame

    return leaderboard_frame([r if isinstance(r, Run) else load_run(r) for r in runs])
