"""The ground-truth recordings as a system: the topline row of every leaderboard."""
from __future__ import annotations

from typing import Sequence

from evalkit.audio import AudioError, load_audio
from evalkit.systems.base import System
from evalkit.types import Item, ItemError, Synthesis


class GroundTruthSystem(System):
    name = "ground-truth"
    description = "each item's ground-truth recording (topline)"
    batch_size = 8
    generates = False  # the files are read each time; nothing to cache or time

    def synthesize(self, items: Sequence[Item], seeds: Sequence[int | None]) -> list[Synthesis | ItemError]:
        out: list[Synthesis | ItemError] = []
        for item in items:
            if item.reference_audio is None:
                out.append(ItemError("MissingReference", f"item {item.id!r} has no ground-truth audio", "generate"))
                continue
            try:
                audio, rate = load_audio(item.reference_audio, keep_channels=True)
            except AudioError as exc:
                out.append(ItemError.from_exception(exc, "generate"))
                continue
            # No synthesis happened: seconds=None makes RTF "not applicable".
            out.append(Synthesis(audio=audio, sample_rate=rate, extras={"source": str(item.reference_audio)}))
        return out
