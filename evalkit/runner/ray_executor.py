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
from dataclasses import dataclass
from typing import Any, Sequence

from evalkit.devices import check_device_name, device_kind
from evalkit.hashing import sha256_file
from evalkit.runner.driver import RunDriver
from evalkit.runner.plan import WorkItem
from evalkit.runner.ray_schedule import Schedule, Worker
from evalkit.runner.ray_workers import ScoringWorker, SynthesisWorker, describe_failure
from evalkit.types import EvalkitError

# On a GPU cluster each GPU holds one synthesis worker and has room for one scoring worker
# (Ray's GPU shares are bookkeeping: both see the whole device; scoring a TorToiSe item takes
# a few percent of the time synthesizing it does).
DEFAULT_SCORER_GPUS = 0.25
DEFAULT_WORKER_GPUS = 1.0 - DEFAULT_SCORER_GPUS
# On a CPU-only cluster: one single-threaded synthesis worker per spare CPU, at most this many
# (each holds a copy of the models in RAM).
MAX_CPU_WORKERS = 4
CONNECT_TIMEOUT_SECONDS = 5.0
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
                ray.shutdown()  # a half-made connection must not stay behind in this process
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
            resources = ", ".join(f"{k} {v:g}" for k, v in sorted(self._main_resources().items()))
            raise EvalkitError(f"--device cuda: the Ray cluster has no GPUs (resources: {resources})")
        self.device_kind = device_kind(device)
        return device

    def _main_resources(self) -> dict[str, float]:
        return {k: v for k, v in self.resources.items() if k in ("CPU", "GPU", "memory", "object_store_memory")}

    def shape(self) -> dict[str, float]:
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
        shape = self.shape()
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

    def pool(self, role: str) -> list[Worker]:
        """The role's workers, created on first use and kept for later runs (sweep cells)."""
        pool = self.pools[role]
        if not pool:
            shape = self.shape()
            count = shape["workers"] if role == "synthesis" else shape["scorers"]
            pool.extend(self._new_actor(role, slot) for slot in range(int(count)))
        return pool

    def replace(self, dead: Worker) -> Worker | None:
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
        schedule = Schedule(self, run, todo)
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

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
