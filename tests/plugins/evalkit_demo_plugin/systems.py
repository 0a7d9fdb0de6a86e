"""A plugin system: espeak-ng at a chosen gain."""
from __future__ import annotations

from typing import Any, Sequence

from evalkit.systems.espeak import EspeakSystem
from evalkit.types import Item, ItemError, Synthesis


class SoftEspeak(EspeakSystem):
    name = "soft-espeak"
    description = "espeak-ng scaled by `gain` (a plugin system for tests)"

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {**super().default_options(), "gain": 0.5}

    def synthesize(self, items: Sequence[Item], seeds: Sequence[int | None]) -> list[Synthesis | ItemError]:
        gain = float(self.options["gain"])
        return [Synthesis(s.audio * gain, s.sample_rate, s.seconds, s.stages, s.extras)
                for s in super().synthesize(items, seeds)]
