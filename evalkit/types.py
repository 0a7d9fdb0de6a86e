"""Frozen records that flow through evalkit: items, syntheses, errors.

Nothing here imports torch or numpy at import time; audio arrays are typed loosely
so that `import evalkit` stays fast.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class Item:
    """One prompt of a suite.

    `prompt_audio` is the speaker prompt (the voice to clone) and `prompt_text` its
    transcript; `extra_prompt_audio` are more clips of the same speaker, for systems that
    condition on several (TorToiSe averages its voice latents over them; speaker
    similarity still compares with `prompt_audio`). `reference_audio`/`reference_text`
    are the ground-truth recording of `text` and its transcript (usually equal to `text`).
    """

    id: str
    text: str
    prompt_audio: Path | None = None
    prompt_text: str | None = None
    reference_audio: Path | None = None
    reference_text: str | None = None
    tags: tuple[str, ...] = ()
    language: str = "en"
    extra_prompt_audio: tuple[Path, ...] = ()

    @property
    def voice_clips(self) -> tuple[Path, ...]:
        """Every clip of the speaker to clone: the prompt first (empty without a prompt)."""
        return () if self.prompt_audio is None else (self.prompt_audio, *self.extra_prompt_audio)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("prompt_audio", "reference_audio"):
            out[key] = None if out[key] is None else str(out[key])
        out["tags"] = list(self.tags)
        # Only when present, so that items with one clip keep the JSON (and suite content hash)
        # they had before the field existed.
        if self.extra_prompt_audio:
            out["extra_prompt_audio"] = [str(p) for p in self.extra_prompt_audio]
        else:
            del out["extra_prompt_audio"]
        return out


@dataclass(frozen=True)
class Synthesis:
    """What a system returns for one item.

    audio: float32 mono numpy array in [-1, 1]. `seconds` is the wall time spent
    synthesizing this item (for a batch, the runner apportions the batch time when a
    system does not report per-item times). `stages` breaks that time down by
    pipeline stage (seconds). `extras` is free-form, JSON-serialisable system output
    (e.g. TorToiSe's chosen candidate and its CLVP score).
    """

    audio: Any
    sample_rate: int
    seconds: float | None = None
    stages: Mapping[str, float] = field(default_factory=dict)
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemError:
    """A per-item failure: recorded in samples.jsonl, counted in metrics.json."""

    type: str
    message: str
    stage: str

    @classmethod
    def from_exception(cls, exc: BaseException, stage: str) -> ItemError:
        return cls(type=type(exc).__name__, message=str(exc) or repr(exc), stage=stage)

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunResult:
    """What `evaluate` returns: where the run is, its metrics.json, and counts."""

    run_dir: Path
    metrics: dict[str, Any]
    n_items: int
    n_failed: int


class EvalkitError(Exception):
    """An error with a message meant for the user (no traceback needed)."""


class ItemFailure(EvalkitError):
    """Raised by a system or metric for one item; becomes a failed item, not a crash."""
