"""Score audio made elsewhere: a folder of `<item id>.wav|.flac|...` files.

Any TTS model can be evaluated this way without writing an adapter. A missing or
unreadable file is a failed item, not a crash.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from evalkit.audio import AudioError, load_audio
from evalkit.systems.base import System
from evalkit.types import EvalkitError, Item, ItemError, Synthesis

EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


@dataclass(frozen=True)
class AudioDirOptions:
    audio_dir: str | None = None  # the folder (required; --audio-dir)


class AudioDirSystem(System):
    name = "audio-dir"
    description = "audio made elsewhere: a folder of <item id>.wav|.flac"
    batch_size = 8
    generates = False

    Options = AudioDirOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if not self.options["audio_dir"]:
            raise EvalkitError("system audio-dir needs --audio-dir DIR (Makefile: AUDIO_DIR=DIR)")
        folder = Path(self.options["audio_dir"]).expanduser().resolve()
        if not folder.is_dir():
            raise EvalkitError(f"--audio-dir {folder}: not a directory")
        self.opts = replace(self.opts, audio_dir=str(folder))
        self.options["audio_dir"] = str(folder)
        self.folder = folder

    def find(self, item: Item) -> Path | None:
        # Item ids are validated to be plain file names, so this cannot escape the folder.
        # Anything under the name (a folder, a dangling link) is returned: load_audio says what it is.
        for ext in EXTENSIONS:
            path = self.folder / f"{item.id}{ext}"
            if path.exists() or path.is_symlink():
                return path
        return None

    def synthesize(self, items: Sequence[Item], seeds: Sequence[int | None]) -> list[Synthesis | ItemError]:
        out: list[Synthesis | ItemError] = []
        for item in items:
            path = self.find(item)
            if path is None:
                names = ", ".join(f"{item.id}{e}" for e in EXTENSIONS)
                message = f"no audio for item {item.id!r} in {self.folder} (looked for {names})"
                out.append(ItemError("MissingAudio", message, "generate"))
                continue
            try:
                audio, rate = load_audio(path, keep_channels=True)
            except AudioError as exc:
                out.append(ItemError.from_exception(exc, "generate"))
                continue
            out.append(Synthesis(audio=audio, sample_rate=rate, extras={"source": str(path)}))
        return out
