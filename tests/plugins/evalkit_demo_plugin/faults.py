"""Systems that misbehave on purpose, for the executors' fault tests."""
from __future__ import annotations

import os
import time
from typing import Any, Sequence

from evalkit.systems.espeak import EspeakSystem
from evalkit.types import Item, ItemError, Synthesis
from evalkit_demo_plugin.metrics import ActiveSpeech


class SlowEspeak(EspeakSystem):
    """espeak-ng that takes at least `delay` seconds per item (time to kill things mid-run)."""

    name = "slow-espeak"

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {**super().default_options(), "delay": 0.0}

    def synthesize(self, items: Sequence[Item], seeds: Sequence[int | None]) -> list[Synthesis | ItemError]:
        time.sleep(float(self.options["delay"]) * len(items))
        return super().synthesize(items, seeds)


class PoisonEspeak(SlowEspeak):
    """Kills the process that synthesizes one of the `poison` items (a worker, never the test)."""

    name = "poison-espeak"

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {**super().default_options(), "poison": []}

    def synthesize(self, items: Sequence[Item], seeds: Sequence[int | None]) -> list[Synthesis | ItemError]:
        if any(item.id in self.options["poison"] for item in items):
            if not _in_ray_actor():
                raise RuntimeError("PoisonEspeak kills only Ray workers")
            os._exit(17)
        return super().synthesize(items, seeds)


def _in_ray_actor() -> bool:
    try:
        import ray
    except ImportError:
        return False
    return ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None


class BrokenEspeak(EspeakSystem):
    """A system whose model cannot load."""

    name = "broken-espeak"

    def setup(self, device: str) -> None:
        raise RuntimeError("cannot open model file /nonexistent/broken-espeak.bin: no such file")


class SlowActiveSpeech(ActiveSpeech):
    """The active-speech metric, `delay` seconds per item, scoring two items per call."""

    name = "slow_active_speech"
    batch_size = 2

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {**super().default_options(), "delay": 0.0}

    def score(self, batch):
        time.sleep(float(self.options["delay"]) * len(batch))
        return super().score(batch)
