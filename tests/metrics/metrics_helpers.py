"""Shared constants and helpers of the scoring tests (imported as a top-level module:
the test folders are not packages)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from evalkit.audio import load_audio, mix_down
from evalkit.metrics.base import ScoreInput
from evalkit.types import Item, Synthesis

JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
SENTENCES = [
    "Please call Stella and ask her to bring these things with her from the store.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob.",
    "We also need a small plastic snake and a big toy frog for the kids.",
    "The weather today is sunny with a light breeze from the west.",
]
VOICES = ("en-us+m3", "en-us+f3", "en-gb-x-rp")


def score_input(
    path: Path,
    text: str = "",
    *,
    prompt: Path | None = None,
    reference: Path | None = None,
    tags: tuple[str, ...] = (),
    item_id: str | None = None,
    channels: bool = False,
) -> ScoreInput:
    """A ScoreInput as the runner builds it: decoded audio plus content hashes; with
    `channels`, a multi-channel file keeps its channels (as the runner stores them)."""
    stored, rate = load_audio(path, keep_channels=channels)
    audio = mix_down(stored)
    sha = hashlib.sha256(stored.tobytes() + str(rate).encode()).hexdigest()
    item = Item(id=item_id or Path(path).stem, text=text, prompt_audio=prompt, reference_audio=reference, tags=tags)
    return ScoreInput(item=item, audio=audio, sample_rate=rate, audio_sha256=sha,
                      synthesis=Synthesis(audio=audio, sample_rate=rate),
                      channels=stored if stored.ndim == 2 else None)  # fmt: skip
