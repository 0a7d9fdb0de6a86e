"""The Ray executor's event loop on the driver: one run's items through the worker pools.

Items flow from the plan to the synthesis workers (at most `queue` calls in flight per
worker, retries alone), then into chunks of consecutive planned items, which go to a
scoring worker once every item of the chunk is generated (the local executor scores the
same chunks), then into samples.jsonl through the driver. Items between the plan and
samples.jsonl are bounded (`Schedule._limit`), so the driver's memory stays flat.

A call that fails because its worker died (or raised) is retried: synthesis items one per
call on whichever worker is free, a scoring chunk whole; after `max_attempts` the items are
recorded as failed with the reason. A worker that dies is replaced (RayExecutor.replace).
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from evalkit.registry import ComponentSpec
from evalkit.runner.driver import RunDriver
from evalkit.runner.generate import Generated
from evalkit.runner.plan import WorkItem
from evalkit.runner.ray_workers import describe_failure
from evalkit.runner.score import ScoreRequest
from evalkit.types import EvalkitError, ItemError

if TYPE_CHECKING:
    from evalkit.runner.ray_executor import RayExecutor

WAIT_SECONDS = 0.5  # how often the progress bar refreshes while nothing finishes
WHERE = ("node_ip", "node_id", "host", "pid", "cuda_visible_devices", "hardware")  # of a worker, in run.json
SCORING_QUEUE = 2  # calls in flight per scoring worker
SHOWN_WORKERS = 4  # the progress bar lists each worker's throughput up to this many


@dataclass(eq=False)  # a worker is itself: compared and found by identity
class Worker:
    """One actor of a pool, as the driver sees it."""

    role: str  # "synthesis" or "scoring"
    slot: int
    handle: Any
    replacements: int = 0  # actors of this slot that died before this one
    info: dict[str, Any] = field(default_factory=dict)
    prepared: Any = None  # what it is set up for (the run's system spec, or its metric specs)
    preparing: Any = None  # what it is being set up for, while a prepare call runs
    prepare_ref: Any = None
    alive: bool = True
    inflight: int = 0
    exclusive: bool = False  # running a retry: nothing is queued behind it
    items: int = 0
    busy_seconds: float = 0.0
    ready_at: float | None = None
    last_done: float | None = None

    @property
    def label(self) -> str:
        where = self.info.get("node_ip") or "?"
        replaced = f".{self.replacements}" if self.replacements else ""
        return f"{self.role} worker {self.slot}{replaced} on {where}"

    def reset_stats(self) -> None:
        self.items, self.busy_seconds, self.ready_at, self.last_done = 0, 0.0, None, None

    def can_take(self, spec: Any, limit: int) -> bool:
        return (self.alive and self.preparing is None and self.prepared == spec and not self.exclusive
                and self.inflight < limit)

    def rate(self) -> float | None:
        if not self.items or self.ready_at is None or self.last_done is None or self.last_done <= self.ready_at:
            return None
        return self.items / (self.last_done - self.ready_at)

    def stats(self) -> dict[str, Any]:
        rate = self.rate()
        return {"role": self.role, "slot": self.slot, "replacements": self.replacements, "alive": self.alive,
                **{k: self.info.get(k) for k in WHERE},
                "items": self.items, "busy_seconds": round(self.busy_seconds, 3),
                "items_per_second": None if rate is None else round(rate, 4)}


@dataclass(eq=False)
class Chunk:
    """Consecutive planned items scored in one call, as the local executor scores them."""

    size: int  # planned items in it
    entries: dict[int, tuple[Generated, dict, ScoreRequest | None]] = field(default_factory=dict)  # by position
    attempts: int = 0

    def scored(self) -> list[tuple[Generated, dict, ScoreRequest]]:
        return [e for _, e in sorted(self.entries.items()) if e[2] is not None]  # type: ignore[misc]


@dataclass
class Call:
    kind: str  # "prepare", "synthesize", "score"
    worker: Worker
    work: list[WorkItem] = field(default_factory=list)  # synthesize
    chunk: Chunk | None = None  # score

    @property
    def n_items(self) -> int:
        return len(self.work) + (len(self.chunk.scored()) if self.chunk else 0)


class Schedule:
    """One run's event loop on the driver."""

    def __init__(self, executor: RayExecutor, run: RunDriver, todo: Sequence[WorkItem]) -> None:
        self.ex = executor
        self.ray = executor.ray
        self.run_ = run
        self.todo = deque(todo)
        self.pending: deque[WorkItem] = deque()  # to synthesize (retries first)
        self.position = {work.item.id: i for i, work in enumerate(todo)}
        self.chunks: dict[int, Chunk] = {}  # filling up as their items are generated
        self.score_queue: deque[Chunk] = deque()
        self.calls: dict[Any, Call] = {}
        self.seen: list[Worker] = []
        self.system_spec = (ComponentSpec.of(run.system), {k: v.get("sha256") for k, v in run.checkpoints.items()})
        self.metric_specs = [ComponentSpec.of(m) for m in run.metrics]
        self.batch = run.system.batch_size
        self.chunk_size = run.score_chunk
        self.started = {"synthesis": False, "scoring": False}
        self.synthesis_ready = False
        for pool in executor.pools.values():  # workers still loading for an earlier run
            for worker in pool:
                if worker.preparing is not None:
                    self.calls[worker.prepare_ref] = Call("prepare", worker)

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        while self.todo or self.pending or self.score_queue or self._working():
            self._feed()
            self._dispatch()
            if not self._working() and (self.pending or self.score_queue) and not self.calls:
                raise EvalkitError("every worker of the run died and none could be replaced; "
                                   "finished items are saved, rerun the same command to resume")
            if not self.calls:
                continue
            done, _ = self.ray.wait(list(self.calls), num_returns=1, timeout=WAIT_SECONDS)
            for ref in done:
                self._complete(ref, self.calls.pop(ref))
            self._show_progress()

    def _working(self) -> bool:
        """Calls in flight other than a replacement worker loading its models."""
        return any(call.kind != "prepare" for call in self.calls.values())

    def _backlog(self) -> int:
        """Items between the suite and samples.jsonl that the driver holds or waits for."""
        in_flight = sum(call.n_items for call in self.calls.values())
        waiting = sum(len(c.scored()) for c in (*self.chunks.values(), *self.score_queue))
        return len(self.pending) + waiting + in_flight

    def _limit(self) -> int:
        """Enough to keep every synthesis worker's queue full while two chunks fill up."""
        workers = len(self.ex.pools["synthesis"]) or int(self.ex.shape()["workers"])
        return workers * self.ex.options.queue * self.batch + 2 * self.chunk_size

    def _feed(self) -> None:
        """Move items from the plan into the pipeline while the backlog allows."""
        run = self.run_
        while self.todo and self._backlog() < self._limit():
            work = self.todo.popleft()
            gen = run.invalid(work)
            if gen is None:
                hit = run.cached(work)
                if hit is None:
                    self.pending.append(work)
                    continue
                gen = run.generated(work, hit)
            self._to_scoring(gen)

    def _to_scoring(self, gen: Generated) -> None:
        """Record the item now if nothing is left to score, else add it to its chunk (queued for a
        scoring worker once all its items are generated)."""
        partial, request = self.run_.scores.plan(gen)
        if request is None:
            self.run_.record(gen, partial)
        position = self.position[gen.item.id]
        index = position // self.chunk_size
        chunk = self.chunks.setdefault(index, Chunk(min(self.chunk_size, len(self.position) - index * self.chunk_size)))
        chunk.entries[position] = (gen, partial, request)
        if len(chunk.entries) == chunk.size:
            del self.chunks[index]
            if chunk.scored():
                self.score_queue.append(chunk)

    # -- workers ---------------------------------------------------------------------------
    def _start(self, role: str) -> None:
        """Create (or reuse) the role's pool and set every worker up for this run."""
        if self.started[role]:
            return
        self.started[role] = True
        for worker in self.ex.pool(role):
            self._prepare(worker)
        self._check_synthesis_ready()

    def _spec_for(self, worker: Worker) -> Any:
        return self.system_spec if worker.role == "synthesis" else self.metric_specs

    def _prepare(self, worker: Worker) -> None:
        if worker not in self.seen:
            self.seen.append(worker)
            worker.reset_stats()
        spec = self._spec_for(worker)
        if worker.preparing is not None or worker.prepared == spec:
            worker.ready_at = worker.ready_at or time.perf_counter()
            return  # already set up, or setting up (re-prepared when that finishes)
        ref = (worker.handle.prepare.remote(*spec) if worker.role == "synthesis"
               else worker.handle.prepare.remote(spec))
        worker.preparing, worker.prepare_ref = spec, ref
        self.calls[ref] = Call("prepare", worker)

    def _check_synthesis_ready(self) -> None:
        """The first items wait until every synthesis worker has loaded: a model that fails
        to load anywhere fails the run before any item is generated."""
        alive = [w for w in self.ex.pools["synthesis"] if w.alive]
        if self.started["synthesis"] and not self.synthesis_ready:
            self.synthesis_ready = bool(alive) and all(w.prepared == self.system_spec for w in alive)

    # -- dispatch ------------------------------------------------------------------------
    def _dispatch(self) -> None:
        if self.pending:
            self._start("synthesis")
        if self.score_queue or self.started["synthesis"]:
            self._start("scoring")  # loads while the first items are synthesized
        if self.synthesis_ready:
            self._dispatch_synthesis()
        self._dispatch_scoring()

    def _dispatch_synthesis(self) -> None:
        for worker in self.ex.pools["synthesis"]:
            while self.pending and worker.can_take(self.system_spec, self.ex.options.queue):
                batch = [self.pending.popleft()]
                if batch[0].attempts:  # a retry runs alone, with nothing queued behind it
                    if worker.inflight:
                        self.pending.appendleft(batch[0])
                        break
                    worker.exclusive = True
                else:
                    while self.pending and len(batch) < self.batch and not self.pending[0].attempts:
                        batch.append(self.pending.popleft())
                items = [w.item for w in batch]
                ref = worker.handle.run.remote(items, [w.seed for w in batch], self.ex.file_refs(self.run_, items))
                worker.inflight += 1
                self.calls[ref] = Call("synthesize", worker, work=batch)

    def _dispatch_scoring(self) -> None:
        for worker in self.ex.pools["scoring"]:
            while self.score_queue and worker.can_take(self.metric_specs, SCORING_QUEUE):
                chunk = self.score_queue[0]
                if chunk.attempts:  # a retry runs alone, with nothing queued behind it
                    if worker.inflight:
                        break
                    worker.exclusive = True
                self.score_queue.popleft()
                requests = [request for _, _, request in chunk.scored()]
                files = self.ex.file_refs(self.run_, [r.input.item for r in requests])
                ref = worker.handle.run.remote(requests, files)
                worker.inflight += 1
                self.calls[ref] = Call("score", worker, chunk=chunk)

    # -- completions -----------------------------------------------------------------------
    def _complete(self, ref, call: Call) -> None:
        worker = call.worker
        try:
            result = self.ray.get(ref)
        except Exception as exc:  # the task raised, or the worker died under it
            self._failed(call, exc)
            return
        if call.kind == "prepare":
            self._prepared(worker, result)
            return
        worker.inflight -= 1
        worker.exclusive = False
        values, seconds = result
        worker.items += len(values)
        worker.busy_seconds += seconds
        worker.last_done = time.perf_counter()
        if call.kind == "synthesize":
            for work, synthesized in zip(call.work, values):
                self._to_scoring(self.run_.generated(work, synthesized))
        else:
            for (gen, partial, request), computed in zip(call.chunk.scored(), values):
                self.run_.record(gen, self.run_.scores.finish(partial, request, computed))

    def _prepared(self, worker: Worker, result: dict[str, Any]) -> None:
        worker.prepared, worker.preparing, worker.prepare_ref = worker.preparing, None, None
        worker.info = {k: v for k, v in result.items() if k != "phases"}
        if worker not in self.seen:
            return
        worker.ready_at = time.perf_counter()
        for label, seconds in result["phases"].items():
            self.run_.progress.phases[f"{label} [{worker.label}]"] = seconds
        if worker.prepared != self._spec_for(worker):
            self._prepare(worker)  # it was loading for an earlier run
        self._check_synthesis_ready()

    def _failed(self, call: Call, exc: BaseException) -> None:
        worker = call.worker
        died = isinstance(exc, self._death_errors())
        reason = f"{worker.label}: {describe_failure(exc)}"
        if call.kind == "prepare":
            worker.preparing = worker.prepare_ref = None
            if not died:
                raise EvalkitError(f"{worker.label} could not set up: {describe_failure(exc)}") from None
        else:
            worker.inflight -= 1
            worker.exclusive = False
        if died and worker.alive:
            fresh = self.ex.replace(worker)
            if fresh is not None and self.started[fresh.role]:
                self._prepare(fresh)
            self._check_synthesis_ready()
        if call.kind == "synthesize":
            for work in call.work:
                self._retry_synthesis(work, reason, died)
        elif call.kind == "score":
            self._retry_scoring(call.chunk, reason, died)

    def _death_errors(self) -> tuple[type, ...]:
        e = self.ray.exceptions
        return tuple(getattr(e, name) for name in ("RayActorError", "WorkerCrashedError", "NodeDiedError",
                                                     "ObjectLostError", "OwnerDiedError") if hasattr(e, name))

    def _retry_synthesis(self, work: WorkItem, reason: str, died: bool) -> None:
        attempts = work.attempts + 1
        if attempts < self.ex.options.max_attempts:
            self.pending.appendleft(WorkItem(work.item, work.seed, attempts, reason))
            return
        error = ItemError("WorkerDied" if died else "WorkerError", _exhausted(attempts, reason), "generate")
        self._to_scoring(Generated(work.item, work.seed, error=error))

    def _retry_scoring(self, chunk: Chunk, reason: str, died: bool) -> None:
        """The chunk again, whole (its items are scored together wherever they run), or its
        items' metrics recorded as failed."""
        chunk.attempts += 1
        if chunk.attempts < self.ex.options.max_attempts:
            self.score_queue.appendleft(chunk)
            return
        kind = "WorkerDied" if died else "WorkerError"
        for gen, partial, request in chunk.scored():
            values = {m: ItemError(kind, _exhausted(chunk.attempts, reason), f"score:{m}") for m in request.metrics}
            self.run_.record(gen, self.run_.scores.finish(partial, request, values))

    # -- progress --------------------------------------------------------------------------
    def _show_progress(self) -> None:
        """Each synthesis worker's items/s (their range beyond SHOWN_WORKERS) and the slowest one."""
        rates = [(w.rate(), w) for w in self.ex.pools["synthesis"] if w.alive and w.rate() is not None]
        if not rates:
            return
        slowest_rate, slowest = min(rates, key=lambda pair: pair[0])
        if len(rates) <= SHOWN_WORKERS:
            each = " ".join(f"w{w.slot} {rate:.2f}/s" for rate, w in sorted(rates, key=lambda p: p[1].slot))
        else:
            each = f"{len(rates)} workers {slowest_rate:.2f}-{max(r for r, _ in rates):.2f} items/s"
        self.run_.progress.status(f"{each}, slowest: {slowest.label}")


def _exhausted(attempts: int, reason: str) -> str:
    return f"{attempts} attempt(s) failed, each on a worker that died or failed; last: {reason}"
