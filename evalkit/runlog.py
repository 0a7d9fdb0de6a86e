"""A run directory read back as typed records, as inspect_ai's logs are typed.

    from evalkit.api import load_run, leaderboard_df
    run = load_run("runs/smoke/espeak/seed0-…")
    run.summaries["wer"].value, run.summaries["wer"].ci95
    [s.item_id for s in run.samples if s.failed]
    run.samples_df()                     # one row per item (pandas; columns: docs/run-directory.md)
    leaderboard_df([run, other_run])     # one row per run

`Run` brings a run directory's three files together for analysis: its `info`
(run.json, a RunInfo), its `samples` (samples.jsonl, Sample) and its `summaries`
(metrics.json, SummaryRow). The records are those of evalkit.schema, the types the
driver writes the files with. Fields a schema-1 file may lack (a run copied from an
older evalkit) read as None or empty.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from evalkit.schema import AudioFile, RunInfo, RunMetrics, Sample, SummaryRow, Timing
from evalkit.types import ItemError as Failure

__all__ = ["AudioFile", "Failure", "Run", "Sample", "SuiteRef", "SummaryRow", "SystemRef", "Timing", "leaderboard_df",
           "load_run"]

if TYPE_CHECKING:  # pandas is imported only by the methods that build frames
    import pandas as pd


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
    info: RunInfo  # run.json: git, packages, hardware, metric provenance, invocations
    metrics: RunMetrics | None  # metrics.json (None until an invocation has finished)

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
    info_json, records, metrics_json = read(run_dir)
    info = RunInfo.from_json(info_json)
    metrics = RunMetrics.from_json(metrics_json) if metrics_json is not None else None
    suite, system = info.suite, info.system
    checkpoints = {name: (c or {}).get("sha256") if isinstance(c, Mapping) else c
                   for name, c in (system.get("checkpoints") or {}).items()}
    return Run(
        dir=run_dir,
        run_id=info.run_id or run_dir.name,
        created=info.created,
        suite=SuiteRef(str(suite.get("name", "")), str(suite.get("version", "")), str(suite.get("content_hash", "")),
                       suite.get("n_items"), (metrics and metrics.main_metric) or suite.get("main_metric")),
        system=SystemRef(str(system.get("name", "")), dict(system.get("options") or {}), checkpoints),
        protocol=info.protocol,
        seed=info.seed,
        device=info.device,
        samples=tuple(Sample.from_json(r) for r in records),
        summaries=dict(metrics.summaries) if metrics else {},
        complete=bool(metrics and metrics.complete),
        info=info,
        metrics=metrics,
    )


def leaderboard_df(runs: Iterable[Run | str | Path]) -> pd.DataFrame:
    """One row per run: identity, counts, and every summary's value with its 95% CI."""
    from evalkit.export import leaderboard_frame

    return leaderboard_frame([r if isinstance(r, Run) else load_run(r) for r in runs])
