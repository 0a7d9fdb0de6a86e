"""A plugin metric: the share of 20 ms frames that carry speech (within 30 dB of the loudest)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from evalkit.metrics.base import Metric, ScoreInput, Summary, summary_of_terms
from evalkit.types import Item, ItemError

FRAME_SECONDS = 0.02


def active_frames(audio: np.ndarray, rate: int, floor_db: float) -> tuple[int, int]:
    """(frames within `floor_db` of the loudest frame, all frames)."""
    size = max(1, int(rate * FRAME_SECONDS))
    n = len(audio) // size
    if n == 0:
        return 0, 0
    energy = (audio[: n * size].reshape(n, size).astype(np.float64) ** 2).mean(axis=1)
    level = 10 * np.log10(energy + 1e-12)
    return int((level >= level.max() + floor_db).sum()), n


class ActiveSpeech(Metric):
    name = "active_speech"
    version = "1"
    description = "share of 20 ms frames within floor_db of the loudest frame"
    higher_is_better = True
    batch_size = 4

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {"floor_db": -30.0}

    def score(self, batch: Sequence[ScoreInput]) -> list[dict[str, Any] | ItemError]:
        out = []
        for inp in batch:
            active, frames = active_frames(inp.audio, inp.sample_rate, float(self.options["floor_db"]))
            out.append({"active_speech": active / frames if frames else 0.0, "active": active, "frames": frames})
        return out

    def paired_terms(self, values: Mapping[str, Mapping[str, Any]], failed: Mapping[str, Item]):
        terms = {k: (float(v["active"]), float(v["frames"])) for k, v in values.items() if v["frames"]}
        terms.update({k: (0.0, 1.0) for k in failed})  # a failed item carries no speech
        return {"active_speech": terms}

    def aggregate(self, values: Sequence[Mapping[str, Any]], failed: Sequence[Item]) -> dict[str, Summary]:
        terms = {str(i): (float(v["active"]), float(v["frames"])) for i, v in enumerate(values) if v["frames"]}
        terms.update({f"failed-{item.id}": (0.0, 1.0) for item in failed})
        return {"active_speech": summary_of_terms(terms, len(failed), self.higher_is_better, n=len(values))}
