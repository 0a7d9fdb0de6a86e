"""The driver: the one process that plans a run and writes its directory.

Executors decide where and when items are synthesized and scored; everything that
touches the run directory or the caches happens here, in the driver, whichever
executor runs: run.json, the plan (what the store does not have yet), the generation
and score caches, one samples.jsonl line per finished item, metrics.json. An item is
durable once its line is in samples.jsonl; a rerun of the same command resumes.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Sequence

from evalkit import __version__
from evalkit.progress import Progress
from evalkit.provenance import environment
from evalkit.registry import target_of
from evalkit.runner.aggregate import run_summary
from evalkit.runner.generate import Generated, GenerationCache, Synthesized, store_generated
from evalkit.runner.plan import WorkItem, make_plan
from evalkit.runner.score import ScorePlanner
from evalkit.schema import RunInfo, Sample, failure_from_json
from evalkit.store import RunStore, StoreError
from evalkit.systems.base import System
from evalkit.types import ItemError, RunResult

# Items scored per metric call at most (and so the most a kill can lose before they are recorded).
MAX_SCORE_BUFFER = 64


class Executor(Protocol):
    """Where and when a run's items are synthesized and scored (runner/local.py, runner/ray_executor.py)."""

    name: str

    def resolve_device(self, device: str) -> str: ...

    def execute(self, run: RunDriver, todo: Sequence[WorkItem]) -> None: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def score_chunk(batch_size: int, metrics) -> int:
    """How many consecutive planned items are scored together: enough for full metric batches,
    few enough that a kill loses little, and whole synthesis batches. Both executors score the
    same chunks, so a metric whose values depend on its batch (padding) agrees between them."""
    wanted = min(max([batch_size, *(m.batch_size for m in metrics if m.cacheable)] or [1]), MAX_SCORE_BUFFER)
    return -(-wanted // batch_size) * batch_size


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def component_targets(system: System, metrics) -> dict[str, Any]:
    """run.json `targets`: the import path of the system's and every metric's class, from
    which gates, reports and workers rebuild exactly what the run used (plugins included)."""
    return {"system": target_of(type(system)), "metrics": {m.name: target_of(type(m)) for m in metrics}}


class RunDriver:
    def __init__(self, *, suite, system: System, metrics, run_dir: Path, identity: dict, checkpoints: dict,
                 config, device: str) -> None:
        self.suite = suite
        self.system = system
        self.metrics = list(metrics)
        self.store = RunStore(run_dir)
        self.identity = identity
        self.checkpoints = checkpoints
        self.config = config
        self.device = device
        self.generation_cache = GenerationCache(system, checkpoints, suite, device)
        self.scores = ScorePlanner(self.metrics)
        self.records: dict[str, dict[str, Any]] = {}
        self.progress = Progress(None, quiet=True)
        self.score_chunk = score_chunk(system.batch_size, self.metrics)

    # -- the run ------------------------------------------------------------------------
    def run(self, executor: Executor) -> RunResult:
        self.store.dir.mkdir(parents=True, exist_ok=True)
        with self.store:
            self.records = self.store.open()
            self.store.write_run_info(self._run_info(self.store.read_run_info()))
            if self.config.retry_failed:
                self.records = self._drop_failed(self.records)
            plan = make_plan(self.suite.items, self.config.limit, self.config.seed, self.records)
            self.progress = Progress(len(plan.planned), len(plan.planned) - len(plan.todo), quiet=self.config.quiet,
                                     desc=f"{self.suite.name}/{self.system.name}")
            try:
                executor.execute(self, plan.todo)
            finally:
                self.progress.close()
                self._record_invocation(self.progress.phases, executor.describe())
            summary = run_summary(self.store.dir.name, self.suite, self.system.name, self.config.protocol,
                                  self.metrics, self.records, plan.planned, self.system.generates)
            self.store.write_metrics(summary.to_json())
        return RunResult(self.store.dir, summary.to_json(), len(plan.planned), summary.n_failed)

    # -- the steps executors call ---------------------------------------------------------
    def invalid(self, work: WorkItem) -> Generated | None:
        """A failed item for a suite row that cannot be generated (reported by the suite loader)."""
        problem = self.suite.problems.get(work.item.id)
        if problem is None:
            return None
        return Generated(work.item, work.seed, error=ItemError("InvalidItem", problem, "load"))

    def cached(self, work: WorkItem) -> Synthesized | None:
        return self.generation_cache.get(work)

    def generated(self, work: WorkItem, result: Synthesized) -> Generated:
        """A synthesis result into the generation cache and the run's audio/."""
        if not (result.timing and result.timing.from_cache):
            self.generation_cache.put(work, result)
        return store_generated(self.store, self.suite, self.system.name, work, result)

    def record(self, gen: Generated, scored: dict[str, dict[str, Any]]) -> None:
        """Append the item's line to samples.jsonl: durable when this returns."""
        if gen.item.id in self.records:  # never twice, whatever an executor retried
            raise StoreError(f"item {gen.item.id!r} was about to be recorded twice in {self.store.dir}")
        record = self.store.append(make_record(gen, scored))  # a record it cannot store comes back a failure
        self.records[gen.item.id] = record
        self.progress.update(failed=record["error"] is not None or bool(record["metric_errors"]))

    # -- run.json ----------------------------------------------------------------------
    def _run_info(self, existing: dict[str, Any] | None) -> dict[str, Any]:
        env = environment()
        invocation = {"time": utc_now(), "command": env["command"], "limit": self.config.limit,
                      "git": env["git"], "hardware": env["hardware"]}
        targets = component_targets(self.system, self.metrics)
        if existing is not None:
            if existing.get("identity") != self.identity:
                differing = sorted(k for k in self.identity if existing.get("identity", {}).get(k) != self.identity[k])
                raise StoreError(
                    f"{self.store.dir} holds a different run (differs in: {', '.join(differing)}); "
                    "choose another OUT or remove the directory"
                )
            if existing.get("targets", targets) != targets:
                raise StoreError(
                    f"{self.store.dir} was made by other classes ({existing['targets']}, now {targets}); "
                    "choose another OUT or remove the directory"
                )
            info = RunInfo.from_json(existing)
            return replace(info, targets=targets, invocations=[*info.invocations, invocation]).to_json()
        return RunInfo(
            run_id=self.store.dir.name, created=utc_now(), evalkit_version=__version__, git=env["git"],
            python=env["python"], packages=env["packages"], hardware=env["hardware"], device=self.device,
            suite=self.suite.describe(), system={**self.system.config(), "checkpoints": self.checkpoints},
            metrics=[m.provenance() for m in self.metrics], targets=targets, protocol=self.config.protocol,
            seed=self.config.seed, command=env["command"], identity=self.identity, invocations=[invocation],
        ).to_json()

    def _record_invocation(self, phases: dict[str, float], executor: dict[str, Any]) -> None:
        """This invocation's executor, and its untimed steps (model loading, warm-up), which RTF leaves out."""
        raw = self.store.read_run_info()
        info = RunInfo.from_json(raw) if raw else None
        if info and info.invocations:
            last = {**info.invocations[-1], "executor": executor}
            if phases:
                last["phases_seconds"] = {k: round(v, 3) for k, v in phases.items()}
            self.store.write_run_info(replace(info, invocations=[*info.invocations[:-1], last]).to_json())

    def _drop_failed(self, records: dict[str, dict]) -> dict[str, dict]:
        kept = {k: r for k, r in records.items() if not r.get("error") and not r.get("metric_errors")}
        if len(kept) != len(records):
            self.store.rewrite_samples(list(kept.values()))
        return kept


def make_record(gen: Generated, scored: dict[str, dict]) -> dict[str, Any]:
    """One line of samples.jsonl (evalkit.schema.Sample; docs/run-directory.md). `scored`:
    the ScorePlanner's {"scores", "not_applicable", "metric_errors"} for the item."""
    item = gen.item
    return Sample(
        item_id=item.id, text=item.text, tags=item.tags, seed=gen.seed, audio=gen.audio, timing=gen.timing,
        system_extras=gen.extras, scores=scored.get("scores", {}), not_applicable=scored.get("not_applicable", {}),
        metric_errors={m: failure_from_json(e) for m, e in scored.get("metric_errors", {}).items() if e},
        error=gen.error, finished=utc_now(),
    ).to_json()
