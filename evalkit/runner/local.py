"""In-process executor: plan, generate, score, store; resumable at item granularity.

Generated items wait in a small buffer so that metrics score many at once (Whisper
and ECAPA batch well even when a system synthesizes one item at a time); an item is
durable once its line is in samples.jsonl. A kill loses only the buffered items, and
their audio is in the generation cache, so the rerun does not synthesize them again.
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Sequence

from evalkit import __version__
from evalkit.progress import Progress
from evalkit.provenance import environment
from evalkit.runner.aggregate import run_summary
from evalkit.runner.generate import Generated, Generator
from evalkit.runner.score import Scorer
from evalkit.store import SCHEMA_VERSION, RunStore, StoreError
from evalkit.systems.base import System, item_seed
from evalkit.types import Item, ItemError


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LocalRunner:
    def __init__(self, *, suite, system: System, metrics, run_dir: Path, identity: dict, checkpoints: dict,
                 config, device: str) -> None:
        self.suite = suite
        self.system = system
        self.metrics = metrics
        self.store = RunStore(run_dir)
        self.identity = identity
        self.checkpoints = checkpoints
        self.config = config
        self.device = device
        # Enough items for full metric batches, few enough that a kill loses little.
        self.buffer_size = max([system.batch_size, *(m.batch_size for m in metrics if m.cacheable)] or [1])
        self.buffer_size = min(self.buffer_size, 64)

    # -- run.json ----------------------------------------------------------------------
    def _run_info(self, existing: dict[str, Any] | None) -> dict[str, Any]:
        env = environment()
        invocation = {"time": utc_now(), "command": env["command"], "limit": self.config.limit,
                      "git": env["git"], "hardware": env["hardware"]}
        if existing is not None:
            if existing.get("identity") != self.identity:
                differing = sorted(k for k in self.identity if existing.get("identity", {}).get(k) != self.identity[k])
                raise StoreError(
                    f"{self.store.dir} holds a different run (differs in: {', '.join(differing)}); "
                    "choose another OUT or remove the directory"
                )
            existing["invocations"].append(invocation)
            return existing
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.store.dir.name,
            "created": utc_now(),
            "evalkit_version": __version__,
            "git": env["git"],
            "python": env["python"],
            "packages": env["packages"],
            "hardware": env["hardware"],
            "device": self.device,
            "suite": self.suite.describe(),
            "system": {**self.system.config(), "checkpoints": self.checkpoints},
            "metrics": [m.provenance() for m in self.metrics],
            "protocol": self.config.protocol,
            "seed": self.config.seed,
            "command": env["command"],
            "identity": self.identity,
            "invocations": [invocation],
        }

    # -- the run ------------------------------------------------------------------------
    def plan(self, records: dict[str, dict]) -> tuple[list[Item], list[Item]]:
        planned = list(self.suite.items[: self.config.limit] if self.config.limit else self.suite.items)
        return planned, [item for item in planned if item.id not in records]

    def run(self):
        from evalkit.api import RunResult

        self.store.dir.mkdir(parents=True, exist_ok=True)
        with self.store:
            records = self.store.open()
            self.store.write_run_info(self._run_info(self.store.read_run_info()))
            if self.config.retry_failed:
                records = self._drop_failed(records)
            planned, todo = self.plan(records)
            progress = Progress(len(planned), len(planned) - len(todo), quiet=self.config.quiet,
                                desc=f"{self.suite.name}/{self.system.name}")
            try:
                self._process(todo, records, progress)
            finally:
                progress.close()
                self.system.teardown()
                self._record_phases(progress.phases)
            summary = run_summary(self.store.dir.name, self.suite, self.system.name, self.config.protocol,
                                  self.metrics, records, planned, self.system.generates)
            self.store.write_metrics(summary)
        return RunResult(self.store.dir, summary, len(planned), summary["n_failed"])

    def _record_phases(self, phases: dict[str, float]) -> None:
        """This invocation's untimed steps (model loading, warm-up), which RTF leaves out."""
        info = self.store.read_run_info() if phases else None
        if info and info.get("invocations"):
            info["invocations"][-1]["phases_seconds"] = {k: round(v, 3) for k, v in phases.items()}
            self.store.write_run_info(info)

    def _drop_failed(self, records: dict[str, dict]) -> dict[str, dict]:
        kept = {k: r for k, r in records.items() if not r.get("error") and not r.get("metric_errors")}
        if len(kept) != len(records):
            self.store.rewrite_samples(list(kept.values()))
        return kept

    def _process(self, todo: Sequence[Item], records: dict, progress: Progress) -> None:
        generator = Generator(self.system, self.checkpoints, self.store, self.suite, self.device, progress)
        scorer = Scorer(self.metrics, self.device, progress)
        buffer: list[Generated] = []
        try:
            for start in range(0, len(todo), self.system.batch_size):
                batch = todo[start : start + self.system.batch_size]
                buffer.extend(self._generate(generator, batch))
                if len(buffer) >= self.buffer_size:
                    self._flush(scorer, buffer, records, progress)
                    buffer = []
            self._flush(scorer, buffer, records, progress)
        finally:
            scorer.teardown()

    def _generate(self, generator: Generator, batch: Sequence[Item]) -> list[Generated]:
        seeds = [None if self.config.seed is None else item_seed(self.config.seed, i.id) for i in batch]
        runnable = [(i, s) for i, s in zip(batch, seeds) if i.id not in self.suite.problems]
        generated = generator.run([i for i, _ in runnable], [s for _, s in runnable]) if runnable else []
        results = {g.item.id: g for g in generated}
        out = []
        for item, seed in zip(batch, seeds):
            if item.id in self.suite.problems:
                out.append(Generated(item, seed, error=ItemError("InvalidItem", self.suite.problems[item.id], "load")))
            else:
                out.append(results[item.id])
        return out

    def _flush(self, scorer: Scorer, buffer: list[Generated], records: dict, progress: Progress) -> None:
        if not buffer:
            return
        for gen, scored in zip(buffer, scorer.run(buffer)):
            record = self.store.append(make_record(gen, scored))  # a record it cannot store comes back a failure
            records[gen.item.id] = record
            progress.update(failed=record["error"] is not None or bool(record["metric_errors"]))


def make_record(gen: Generated, scored: dict[str, dict]) -> dict[str, Any]:
    """One line of samples.jsonl (see docs/run-directory.md)."""
    item = gen.item
    return {
        "item_id": item.id,
        "text": item.text,
        "tags": list(item.tags),
        "seed": gen.seed,
        "audio": gen.audio,
        "timing": gen.timing,
        "system_extras": gen.extras,
        **scored,
        "error": None if gen.error is None else gen.error.to_json(),
        "finished": utc_now(),
    }
