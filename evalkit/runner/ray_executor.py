"""The Ray executor: one run across many GPUs and machines, synthesis and scoring overlapped.

Synthesis workers are Ray actors holding the system's models (one per GPU by default);
scoring workers are a second pool holding the metrics' models. The driver (this
process) plans, serves cached generations, ships work and suite audio through the
object store, and alone writes the run directory (runner/driver.py), exactly as the
local executor does: same run id, same records, resumable by either executor.

Scheduling: each synthesis worker has at most `queue` calls in flight (one running,
the next waiting, so a GPU never idles on the driver); a finished item is stored and
sent to a scoring worker while the synthesis workers go on; items wait in the driver
only up to a bound, so its memory stays flat on any suite size.

Faults: a worker that dies (OOM, ray.kill, a lost node) is replaced; its in-flight items
go back to the queue and are retried one per call on whichever worker is free. An item
whose calls failed `max_attempts` times is recorded as failed (`WorkerDied`, with the
worker's node and last error), so an item that kills every worker it touches ends as a
counted failure. A worker that cannot load its models fails the run before the first
item, with the worker's own error text.
"""
from __future__ import annotations

import math
import os
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

from evalkit.devices import check_device_name, device_kind
from evalkit.hashing import sha256_file
from evalkit.registry import ComponentSpec
from evalkit.runner.driver import RunDriver
from evalkit.runner.generate import Generated, Synthesized
from evalkit.runner.plan import WorkItem
from evalkit.runner.ray_workers import ScoringWorker, SynthesisWorker, describe_failure
from evalkit.runner.score import ScoreRequest
from evalkit.types import EvalkitError, ItemError

# On a GPU cluster each GPU holds one synthesis worker and has room for one scoring worker
# (Ray's GPU shares are bookkeeping: both see the whole device; scoring a TorToiSe item takes
# a few percent of the time synthesizing it does).
DEFAULT_SCORER_GPUS = 0.25
DEFAULT_WORKER_GPUS = 1.0 - DEFAULT_SCORER_GPUS
# On a CPU-only cluster: one single-threaded synthesis worker per spare CPU, at most this many
# (each holds a copy of the models in RAM).
MAX_CPU_WORKERS = 4
CONNECT_TIMEOUT_SECONDS = 5.0
WAIT_SECONDS = 0.5  # how often the progress bar refreshes while nothing finishes
SCORING_QUEUE = 2  # calls in flight per scoring worker
RAY_INSTALL = "pip install 'evalkit[ray]' (ray[default], pinned in constraints.txt)"


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray run goes. None means "sized to the cluster"."""

    address: str | None = None  # None: $RAY_ADDRESS if set, else a local instance; "auto", HOST:PORT, ray://HOST:PORT
    workers: int | None = None  # synthesis workers (default: one per GPU; CPU-only: see MAX_CPU_WORKERS)
    worker_gpus: float | None = None  # GPUs per synthesis worker (fractions share a GPU)
    worker_cpus: float = 1.0
    scorers: int | None = None  # scoring workers (default: one per four synthesis workers)
    scorer_gpus: float | None = None  # default DEFAULT_SCORER_GPUS on CUDA, 0 on CPU
    max_attempts: int = 3  # calls per item before a worker death becomes the item's failure
    max_replacements: int = 3  # per worker slot: a slot whose actors keep dying is left empty
    queue: int = 2  # calls in flight per synthesis worker

    def __post_init__(self) -> None:
        for name in ("workers", "scorers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise EvalkitError(f"--{name} must be at least 1 (got {value})")
        for name in ("worker_gpus", "scorer_gpus"):
            value = getattr(self, name)
            if value is not None and not (0 <= value <= 1 or float(value).is_integer()):
                raise EvalkitError(f"{name} {value}: a fraction of one GPU or a whole number of GPUs")
        if self.max_attempts < 1 or self.queue < 1 or self.max_replacements < 0:
            raise EvalkitError("max_attempts and queue must be at least 1, max_replacements at least 0")


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise EvalkitError(f"--executor ray needs Ray, which is not importable here ({exc}): {RAY_INSTALL}") from None
    return ray


def check_reachable(address: str) -> None:
    """Fail within seconds, naming the address, when nothing listens there (Ray itself
    retries for minutes)."""
    if address == "auto":
        return
    host_port = address.removeprefix("ray://")
    host, sep, port = host_port.rpartition(":")
    if not sep or not port.isdigit():
        raise EvalkitError(f"--address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        raise EvalkitError(f"--address {address}: no Ray cluster answers there ({exc}); "
                           "start one with `ray start --head` or check the address") from None


def route_cluster_messages() -> None:
    """Ray prints the cluster's error messages ("a worker died ...") on the driver's stdout,
    where `--json` writes its document. evalkit records those events itself (WorkerDied,
    run.json's workers), so the messages go to stderr, their first sentence only."""
    try:
        from ray._private import worker as ray_worker
    except ImportError:
        return
    original = getattr(ray_worker, "print_to_stdstream", None)
    if original is None or getattr(original, "evalkit", False):
        return

    def to_stderr(data, ignore_prefix=False):
        if data.get("pid") == "raylet":
            lines = [line.split(". ", 1)[0] + "." for line in data.get("lines", [])]
            data = {**data, "is_err": True, "lines": lines}
        original(data, ignore_prefix)

    to_stderr.evalkit = True  # type: ignore[attr-defined]
    ray_worker.print_to_stdstream = to_stderr


@dataclass
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
        return f"{self.role} worker {self.slot}" + (f".{self.replacements}" if self.replacements else "") + f" on {where}"

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
                **{k: self.info.get(k) for k in ("node_ip", "node_id", "host", "pid", "cuda_visible_devices", "hardware")},
                "items": self.items, "busy_seconds": round(self.busy_seconds, 3),
                "items_per_second": None if rate is None else round(rate, 4)}


@dataclass
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


class RayExecutor:
    name = "ray"

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()
        self.ray = None
        self._owns_ray = False
        self.resources: dict[str, float] = {}
        self.device_kind = "cpu"
        self.pools: dict[str, list[Worker]] = {"synthesis": [], "scoring": []}
        self._file_refs: dict[str, tuple[str, Any]] = {}
        self._run_stats: list[dict[str, Any]] = []

    # -- the cluster ---------------------------------------------------------------------
    def connect(self) -> None:
        if self.ray is not None:
            return
        ray = import_ray()
        address = self.options.address
        if not ray.is_initialized():
            if address:
                check_reachable(address)
            local = not address and not os.environ.get("RAY_ADDRESS")
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                         num_cpus=self._local_cpus() if local else None)
            except Exception as exc:  # ConnectionError, version mismatch, ...
                raise EvalkitError(f"cannot connect to Ray at {address or 'a local instance'}: "
                                   f"{describe_failure(exc)}") from None
            self._owns_ray = True
        route_cluster_messages()
        self.ray = ray
        self.resources = {k: float(v) for k, v in ray.cluster_resources().items()}

    def _local_cpus(self) -> int | None:
        """A local instance has this machine's CPUs, or as many as the workers asked for need
        (Ray's CPU count is bookkeeping: more workers than cores share them)."""
        o = self.options
        if o.workers is None:
            return None
        return max(os.cpu_count() or 1, math.ceil(o.workers * o.worker_cpus + (o.scorers or 1)))

    @property
    def gpus(self) -> float:
        return self.resources.get("GPU", 0.0)

    def resolve_device(self, device: str) -> str:
        """The run's device kind from the cluster (the driver may have no GPU): auto is
        cuda when the cluster has GPUs. Each worker sees its own GPU as cuda:0."""
        check_device_name(device)
        if device.startswith("cuda:"):
            raise EvalkitError(f"--device {device}: on Ray every worker uses the GPU Ray gives it; use --device cuda")
        self.connect()
        if device == "auto":
            device = "cuda" if self.gpus > 0 else "cpu"
        if device == "cuda" and self.gpus == 0:
            raise EvalkitError("--device cuda: the Ray cluster has no GPUs "
                               f"(resources: {', '.join(f'{k} {v:g}' for k, v in sorted(self._main_resources().items()))})")
        self.device_kind = device_kind(device)
        return device

    def _main_resources(self) -> dict[str, float]:
        return {k: v for k, v in self.resources.items() if k in ("CPU", "GPU", "memory", "object_store_memory")}

    def _shape(self) -> dict[str, float]:
        """Pool sizes and per-actor resources for this cluster and device."""
        o = self.options
        cuda = self.device_kind == "cuda"
        scorer_gpus = o.scorer_gpus if o.scorer_gpus is not None else (DEFAULT_SCORER_GPUS if cuda else 0.0)
        if cuda and scorer_gpus == 0:
            raise EvalkitError("--device cuda with scorer_gpus 0: the metrics were configured for CUDA "
                               "(the protocol picks models by device); give scoring workers a GPU share")
        worker_gpus = o.worker_gpus if o.worker_gpus is not None else (DEFAULT_WORKER_GPUS if self.gpus else 0.0)
        if cuda and worker_gpus == 0:
            raise EvalkitError("--device cuda with worker_gpus 0: synthesis workers would have no GPU")
        cpus = self.resources.get("CPU", 1.0)
        if o.workers is not None:
            workers = o.workers
        elif worker_gpus:
            workers = max(1, int(self.gpus // 1))
        else:
            workers = max(1, min(MAX_CPU_WORKERS, int(cpus) - 1))
        scorers = o.scorers if o.scorers is not None else max(1, workers // 4)
        need_gpus = workers * worker_gpus + scorers * scorer_gpus
        need_cpus = workers * o.worker_cpus + scorers
        if need_gpus > self.gpus + 1e-9 or need_cpus > cpus + 1e-9:
            raise EvalkitError(
                f"{workers} synthesis worker(s) ({o.worker_cpus:g} CPU, {worker_gpus:g} GPU each) and {scorers} "
                f"scoring worker(s) (1 CPU, {scorer_gpus:g} GPU each) need {need_cpus:g} CPUs and {need_gpus:g} "
                f"GPUs; the cluster has {cpus:g} and {self.gpus:g}: use fewer --workers"
            )
        return {"workers": workers, "worker_gpus": worker_gpus, "scorers": scorers, "scorer_gpus": scorer_gpus}

    def _new_actor(self, role: str, slot: int, replacements: int = 0) -> Worker:
        shape = self._shape()
        ray = self.ray
        device = self.device_kind
        if role == "synthesis":
            actor = ray.remote(SynthesisWorker).options(
                num_cpus=self.options.worker_cpus, num_gpus=shape["worker_gpus"], scheduling_strategy="SPREAD",
                max_restarts=0, max_task_retries=0)
        else:
            actor = ray.remote(ScoringWorker).options(num_cpus=1, num_gpus=shape["scorer_gpus"],
                                                      max_restarts=0, max_task_retries=0)
        return Worker(role, slot, actor.remote(device), replacements)

    def _pool(self, role: str) -> list[Worker]:
        """The role's workers, created on first use and kept for later runs (sweep cells)."""
        pool = self.pools[role]
        if not pool:
            shape = self._shape()
            count = shape["workers"] if role == "synthesis" else shape["scorers"]
            pool.extend(self._new_actor(role, slot) for slot in range(int(count)))
        return pool

    def _replace(self, dead: Worker) -> Worker | None:
        dead.alive = False
        if dead.replacements >= self.options.max_replacements:
            return None  # this slot keeps dying: leave it empty
        fresh = self._new_actor(dead.role, dead.slot, dead.replacements + 1)
        pool = self.pools[dead.role]
        pool[pool.index(dead)] = fresh
        return fresh

    def file_refs(self, run: RunDriver, items: Sequence) -> dict[str, tuple[str, Any]]:
        """Suite audio the items read, put into the object store once per file."""
        out = {}
        for item in items:
            for path in (*item.voice_clips, item.reference_audio):
                if path is None:
                    continue
                key = str(path)
                if key not in self._file_refs:
                    sha = run.suite.sha_of(path) or sha256_file(path)
                    self._file_refs[key] = (sha, self.ray.put(path.read_bytes()))
                out[key] = self._file_refs[key]
        return out

    # -- the executor interface ------------------------------------------------------------
    def execute(self, run: RunDriver, todo: Sequence[WorkItem]) -> None:
        self.connect()
        schedule = _Schedule(self, run, todo)
        try:
            schedule.run()
        finally:
            self._run_stats = [w.stats() for w in schedule.seen]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.options.address,
                "cluster": self._main_resources(), "workers": self._run_stats}

    def close(self) -> None:
        if self.ray is None:
            return
        for pool in self.pools.values():
            for worker in pool:
                try:
                    self.ray.kill(worker.handle)
                except Exception:  # already dead
                    pass
            pool.clear()
        self._file_refs.clear()
        if self._owns_ray:
            self.ray.shutdown()
        self.ray = None
        self._owns_ray = False

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Schedule:
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
        workers = len(self.ex.pools["synthesis"]) or int(self.ex._shape()["workers"])
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
        for worker in self.ex._pool(role):
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
            fresh = self.ex._replace(worker)
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
        rates = [(w.rate(), w) for w in self.ex.pools["synthesis"] if w.alive and w.rate() is not None]
        if not rates:
            return
        slowest_rate, slowest = min(rates, key=lambda pair: pair[0])
        fastest = max(rate for rate, _ in rates)
        self.run_.progress.status(f"{len(rates)} synthesis workers {slowest_rate:.2f}-{fastest:.2f} items/s, "
                                  f"slowest: {slowest.label}")


def _exhausted(attempts: int, reason: str) -> str:
    return f"{attempts} attempt(s) failed, each on a worker that died or failed; last: {reason}"
