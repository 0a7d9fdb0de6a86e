"""Sweeps: a matrix of runs (checkpoints x presets x seeds) over one suite, as one job.

    evalkit sweep --suite librispeech --checkpoints 'ckpts/*.pth' --component autoregressive \
        --presets fast,standard --seeds 0,1,2 --executor ray

Each cell is an ordinary run with its own run directory (resumable, gateable, reportable
on its own); the sweep decides the cells and their order and runs them through one
executor, whose workers carry over from cell to cell. Cells are ordered checkpoint
first, so the cells of one checkpoint follow each other and share its loaded models
(see SynthesisUnit). `write_sweep_report` (evalkit/report/sweep.py) renders the page.
"""
from __future__ import annotations

import dataclasses
import glob
from dataclasses import dataclass
from pathlib import Path

from evalkit.api import EvalConfig, evaluate
from evalkit.types import EvalkitError, RunResult


@dataclass(frozen=True)
class SweepConfig:
    base: EvalConfig  # everything the cells share; its seed and preset are replaced by the cells'
    checkpoints: tuple[str, ...] = ()  # files swapped in for `component`, one per configuration
    component: str = "autoregressive"
    presets: tuple[str | None, ...] = (None,)  # None: the system's default preset
    seeds: tuple[int, ...] = (0,)
    reference: str | None = None  # the checkpoint the others are compared with (path or file name); default the first

    def __post_init__(self) -> None:
        if not self.seeds:
            raise EvalkitError("a sweep needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds) or len(set(self.presets)) != len(self.presets):
            raise EvalkitError("a sweep's seeds and presets must not repeat")
        if len(set(self.checkpoints)) != len(self.checkpoints):
            raise EvalkitError("a sweep's checkpoints must not repeat")


@dataclass(frozen=True)
class Cell:
    checkpoint: str | None
    preset: str | None
    seed: int
    config: EvalConfig

    @property
    def configuration(self) -> tuple[str | None, str | None]:
        """What the seeds of a group share."""
        return self.checkpoint, self.preset


def expand_checkpoints(pattern: str) -> tuple[str, ...]:
    """Files matching a glob (or a comma-separated list of globs), sorted, each once."""
    found: list[str] = []
    for part in (p.strip() for p in pattern.split(",") if p.strip()):
        matches = sorted(glob.glob(part)) or ([part] if Path(part).is_file() else [])
        if not matches:
            raise EvalkitError(f"--checkpoints {part!r}: no file matches")
        found += [m for m in matches if m not in found]
    return tuple(found)


def reference_checkpoint(sweep: SweepConfig) -> str | None:
    if not sweep.checkpoints:
        return None
    if sweep.reference is None:
        return sweep.checkpoints[0]
    for path in sweep.checkpoints:
        named = sweep.reference in (path, Path(path).name, Path(path).stem)
        if named or Path(path).resolve() == Path(sweep.reference).resolve():
            return path
    names = ", ".join(Path(p).name for p in sweep.checkpoints)
    raise EvalkitError(f"--reference {sweep.reference!r} is not one of the sweep's checkpoints ({names})")


def sweep_cells(sweep: SweepConfig) -> list[Cell]:
    base_options = dict(sweep.base.system_options)
    base_checkpoints = dict(base_options.get("checkpoints") or {})
    cells = []
    for checkpoint in sweep.checkpoints or (None,):
        for preset in sweep.presets:
            for seed in sweep.seeds:
                options = dict(base_options)
                if preset is not None:
                    options["preset"] = preset
                if checkpoint is not None:
                    options["checkpoints"] = {**base_checkpoints, sweep.component: checkpoint}
                config = dataclasses.replace(sweep.base, system_options=options, seed=seed, out=None)
                cells.append(Cell(checkpoint, preset, seed, config))
    return cells


def run_sweep(sweep: SweepConfig, executor=None) -> list[tuple[Cell, RunResult]]:
    """Every cell, in order, through one executor (made here when None). A rerun resumes:
    finished cells are run directories with nothing left to do."""
    from evalkit.api import make_executor

    if executor is None:
        with make_executor("local") as own:
            return run_sweep(sweep, own)
    reference_checkpoint(sweep)  # a misspelt --reference fails before hours of work
    return [(cell, evaluate(cell.config, executor)) for cell in sweep_cells(sweep)]
