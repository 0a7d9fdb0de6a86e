"""What runs inside Ray workers: the synthesis and scoring units, rebuilt from specs.

Plain classes (the executor makes them Ray actors), so this module imports nothing of
Ray at import time. A worker rebuilds the run's system and metrics from their import
paths and options (ComponentSpec, as run.json records them), checks that it resolved
the weights the driver recorded, and loads models before its first item. Suite audio
(speaker prompts, ground truth) comes through the object store and is kept in the
worker machine's own cache by content, so no filesystem is shared with the driver.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from evalkit.cache import BlobCache
from evalkit.progress import Progress
from evalkit.registry import ComponentSpec
from evalkit.runner.generate import SynthesisUnit, Synthesized, machine_label
from evalkit.runner.score import ScoreRequest, ScoringUnit, Value
from evalkit.types import EvalkitError, Item

# path on the driver -> (sha256 of its content, ObjectRef of its bytes)
FileRefs = Mapping[str, tuple[str, Any]]


def node_info() -> dict[str, Any]:
    """Where this worker runs (shown on the progress bar, recorded in run.json)."""
    import ray

    return {"node_ip": ray.util.get_node_ip_address(), "node_id": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(), "pid": os.getpid(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "hardware": machine_label()}


class SuiteFiles:
    """The driver's suite audio, materialised on this machine by content."""

    def __init__(self) -> None:
        self.blobs = BlobCache("worker-files")

    def _local(self, path: Path | None, files: FileRefs) -> Path | None:
        if path is None or str(path) not in files:
            return path
        import ray

        sha, ref = files[str(path)]
        local = self.blobs.path(sha, Path(path).suffix)
        if not local.exists():
            self.blobs.put(sha, Path(path).suffix, ray.get(ref))
        return local

    def localize(self, item: Item, files: FileRefs) -> Item:
        return dataclasses.replace(
            item, prompt_audio=self._local(item.prompt_audio, files),
            extra_prompt_audio=tuple(self._local(p, files) for p in item.extra_prompt_audio),
            reference_audio=self._local(item.reference_audio, files),
        )


class SynthesisWorker:
    """One set of loaded models (e.g. one GPU's): items -> Synthesized."""

    def __init__(self, device: str) -> None:
        self.unit = SynthesisUnit(device)
        self.files = SuiteFiles()
        self.system = None

    def prepare(self, spec: ComponentSpec, checkpoints: Mapping[str, str | None]) -> dict[str, Any]:
        """Rebuild the system, check its weights, load it (or keep what is loaded). Returns
        where this worker runs and the seconds its untimed phases took."""
        progress = Progress(None, quiet=True)
        system = spec.build()
        mine = {k: v.get("sha256") for k, v in system.checkpoints().items()}
        if mine != dict(checkpoints):
            raise EvalkitError(f"this worker resolved other weights than the driver recorded: {mine} here, "
                               f"{dict(checkpoints)} in the run")
        self.unit.progress = progress
        self.system = self.unit.ready(system)
        return {**node_info(), "phases": dict(progress.phases)}

    def run(self, items: Sequence[Item], seeds: Sequence[int | None],
            files: FileRefs) -> tuple[list[Synthesized], float]:
        start = time.perf_counter()
        local = [self.files.localize(item, files) for item in items]
        results = self.unit.run(self.system, local, seeds)
        return results, time.perf_counter() - start


class ScoringWorker:
    """Metrics with their models loaded once: score requests -> values."""

    def __init__(self, device: str) -> None:
        self.unit = ScoringUnit(device)
        self.files = SuiteFiles()
        self.metrics: list = []

    def prepare(self, specs: Sequence[ComponentSpec]) -> dict[str, Any]:
        progress = Progress(None, quiet=True)
        self.unit.progress = progress
        self.metrics = [spec.build() for spec in specs]
        self.unit.prepare(self.metrics)
        return {**node_info(), "phases": dict(progress.phases)}

    def run(self, requests: Sequence[ScoreRequest], files: FileRefs) -> tuple[list[dict[str, Value]], float]:
        start = time.perf_counter()
        local = [dataclasses.replace(r, input=self._localized(r.input, files)) for r in requests]
        return self.unit.run(self.metrics, local), time.perf_counter() - start

    def _localized(self, inp, files: FileRefs):
        return dataclasses.replace(inp, item=self.files.localize(inp.item, files))


def describe_failure(exc: BaseException) -> str:
    """A worker's own error text, not Ray's traceback wall: the original exception of a
    task error, the first line of anything else."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    if isinstance(exc, EvalkitError):
        return str(exc)
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if text.endswith(":") and len(lines) > 1:  # a heading over a traceback: its last line is the reason
        text = f"{text} {lines[-1]}"
    return f"{type(exc).__name__}: {text}".strip()
