"""In-process executor: synthesize a batch, then score what has gathered, in turn.

Generated items wait in a small buffer so that metrics score many at once (Whisper
and ECAPA batch well even when a system synthesizes one item at a time). A kill loses
only the buffered items, and their audio is in the generation cache, so the rerun does
not synthesize them again. The models stay loaded between runs of one executor (the
cells of a sweep): see SynthesisUnit and ScoringUnit.
"""
from __future__ import annotations

from typing import Any, Sequence

from evalkit.devices import resolve_device
from evalkit.runner.driver import RunDriver
from evalkit.runner.generate import Generated, SynthesisUnit
from evalkit.runner.plan import WorkItem
from evalkit.runner.score import ScoringUnit, score_in_process


class LocalExecutor:
    name = "local"

    def __init__(self) -> None:
        self._synthesis: SynthesisUnit | None = None
        self._scoring: ScoringUnit | None = None

    def resolve_device(self, device: str) -> str:
        return resolve_device(device)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def _units(self, device: str) -> tuple[SynthesisUnit, ScoringUnit]:
        if self._synthesis is None or self._synthesis.device != device:
            self.close()
            self._synthesis, self._scoring = SynthesisUnit(device), ScoringUnit(device)
        return self._synthesis, self._scoring

    def execute(self, run: RunDriver, todo: Sequence[WorkItem]) -> None:
        synthesis, scoring = self._units(run.device)
        synthesis.progress = scoring.progress = run.progress
        buffer: list[Generated] = []
        for start in range(0, len(todo), run.system.batch_size):
            buffer += self._generate(run, synthesis, todo[start : start + run.system.batch_size])
            if len(buffer) >= run.score_chunk:
                self._score(run, scoring, buffer)
                buffer = []
        self._score(run, scoring, buffer)

    @staticmethod
    def _generate(run: RunDriver, synthesis: SynthesisUnit, batch: Sequence[WorkItem]) -> list[Generated]:
        out: list[Generated | None] = [run.invalid(work) for work in batch]
        misses = []
        for i, work in enumerate(batch):
            if out[i] is None:
                hit = run.cached(work)
                if hit is not None:
                    out[i] = run.generated(work, hit)
                else:
                    misses.append(i)
        if misses:  # models load only when something must be generated
            results = synthesis.run(run.system, [batch[i].item for i in misses], [batch[i].seed for i in misses])
            for i, result in zip(misses, results):
                out[i] = run.generated(batch[i], result)
        return out  # type: ignore[return-value]

    @staticmethod
    def _score(run: RunDriver, scoring: ScoringUnit, buffer: list[Generated]) -> None:
        for gen, scored in zip(buffer, score_in_process(run.scores, scoring, buffer)):
            run.record(gen, scored)

    def close(self) -> None:
        if self._synthesis is not None:
            self._synthesis.teardown()
        if self._scoring is not None:
            self._scoring.teardown()
        self._synthesis = self._scoring = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
