"""espeak-ng as a system: the floor baseline.

Formant synthesis is intelligible but cannot clone a voice, so its speaker similarity
is expected to be low. Deterministic: the seed is ignored and output is cacheable.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from evalkit.systems.base import System
from evalkit.types import EvalkitError, Item, ItemError, Synthesis

APT_HINT = "install it with `sudo apt-get install -y espeak-ng` (Debian/Ubuntu)"


def espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise EvalkitError(f"espeak-ng is not installed: {APT_HINT}")
    return path


def espeak_version() -> str:
    res = subprocess.run([espeak_binary(), "--version"], capture_output=True, text=True, timeout=30)
    return res.stdout.strip()


def speak(text: str, voice: str, speed: int, pitch: int | None = None):
    """Synthesize `text` with espeak-ng; returns (float32 mono audio, sample rate).

    Text goes through stdin so that no text can be mistaken for an option.
    """
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="evalkit-espeak-") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = [espeak_binary(), "-v", voice, "-s", str(speed), "-w", str(wav), "--stdin"]
        if pitch is not None:
            cmd[1:1] = ["-p", str(pitch)]
        res = subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=120)
        if res.returncode != 0 or not wav.exists():
            raise RuntimeError(f"espeak-ng failed (voice {voice!r}): {res.stderr.decode(errors='replace').strip()}")
        audio, rate = sf.read(str(wav), dtype="float32")
    return audio, rate


@dataclass(frozen=True)
class EspeakOptions:
    voice: str = "en-us"  # espeak-ng -v
    speed: int = 150  # words per minute (espeak-ng -s)
    pitch: int | None = None  # 0-99 (espeak-ng -p); None: the voice's own

    def __post_init__(self) -> None:
        if self.speed < 1:
            raise ValueError(f"option speed={self.speed!r}: expected words per minute >= 1")
        if self.pitch is not None and not 0 <= self.pitch <= 99:
            raise ValueError(f"option pitch={self.pitch!r}: expected 0 to 99")


class EspeakSystem(System):
    name = "espeak"
    description = "espeak-ng formant synthesis (floor baseline; cannot clone a voice)"

    Options = EspeakOptions

    def config(self) -> dict[str, Any]:
        return {**super().config(), "version": espeak_version()}

    def setup(self, device: str) -> None:
        espeak_binary()

    def synthesize(self, items: Sequence[Item], seeds: Sequence[int | None]) -> list[Synthesis | ItemError]:
        out: list[Synthesis | ItemError] = []
        for item in items:
            start = time.perf_counter()
            audio, rate = speak(item.text, self.options["voice"], self.options["speed"], self.options["pitch"])
            seconds = time.perf_counter() - start
            out.append(Synthesis(audio=audio, sample_rate=rate, seconds=seconds, stages={"espeak": seconds}))
        return out
