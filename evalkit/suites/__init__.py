"""Suites: load a spec, its items, and the content hash every run records."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evalkit.cache import content_key
from evalkit.registry import import_target
from evalkit.suites.manifest import ItemRows, build_items
from evalkit.suites.spec import LOADERS, SuiteError, SuiteSpec, builtin_suites, find_spec
from evalkit.types import Item

VOICE_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")  # what --voice takes from a folder (soundfile reads these)

__all__ = ["Suite", "SuiteError", "SuiteSpec", "load_suite", "builtin_suites", "find_spec", "file_sha256"]


@dataclass(frozen=True)
class Suite:
    spec: SuiteSpec
    items: tuple[Item, ...]
    content_hash: str
    # Per-item problems found at load time (item id -> message); those items fail at stage "load".
    problems: dict[str, str] = field(default_factory=dict)
    # sha256 of every audio file the items reference (None for a missing file).
    audio_hashes: dict[str, str | None] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def sha_of(self, path: Path | None) -> str | None:
        return None if path is None else self.audio_hashes.get(str(path))

    def describe(self) -> dict[str, Any]:
        """The suite's identity as recorded in run.json."""
        return {
            "name": self.spec.name,
            "version": self.spec.version,
            "content_hash": self.content_hash,
            "n_items": len(self.items),
            "main_metric": self.spec.main_metric,
            "spec": str(self.spec.path),
        }


def file_sha256(path: Path) -> str | None:
    """sha256 of a suite's audio file (memoised); None for a missing file or anything but
    a regular file, which the item's load problem already reports."""
    from evalkit.hashing import cached_sha256

    try:  # only a regular file: opening a named pipe would wait for a writer forever
        return cached_sha256(path) if path.is_file() else None
    except OSError:
        return None


def load_suite(name_or_path: str, *, voice: str | Path | None = None, voice_text: str | None = None) -> Suite:
    """Load a suite by name or path. `voice` overrides every item's speaker prompt
    (and the suite's default prompt) with the given audio file."""
    spec = find_spec(name_or_path)
    source: ItemRows = import_target(LOADERS[spec.loader])(spec)
    items, problems = build_items(source.rows, source.root)
    items = _apply_prompts(spec, items, voice, voice_text)
    audio_hashes = {
        str(p): file_sha256(p)
        for item in items
        for p in (*item.voice_clips, item.reference_audio)
        if p is not None
    }
    content_hash = content_key(
        "suite", spec.name, spec.version,
        [_hashed_item(item, audio_hashes) for item in items],
    )
    return Suite(spec, tuple(items), content_hash, problems, audio_hashes)


def _apply_prompts(spec: SuiteSpec, items: list[Item], voice, voice_text) -> list[Item]:
    if voice is not None:
        first, *more = voice_files(voice)
        return [replace(i, prompt_audio=first, prompt_text=voice_text, extra_prompt_audio=tuple(more)) for i in items]
    if spec.prompt_audio:
        from evalkit.suites.manifest import resolve_in_root

        path = resolve_in_root(spec.root, spec.prompt_audio, str(spec.path))
        more = tuple(resolve_in_root(spec.root, p, str(spec.path)) for p in spec.extra_prompt_audio)
        return [
            i if i.prompt_audio
            else replace(i, prompt_audio=path, prompt_text=spec.prompt_text, extra_prompt_audio=more)
            for i in items
        ]
    return items


def voice_files(voice: str | Path) -> list[Path]:
    """`--voice`: one audio file, or a folder of clips of one speaker (TorToiSe's voice folders),
    taken in name order; the first is the speaker prompt, the others extra clips."""
    path = Path(voice).expanduser().resolve()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SuiteError(f"--voice {voice}: no such file or folder")
    clips = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VOICE_EXTENSIONS)
    if not clips:
        raise SuiteError(f"--voice {voice}: the folder holds no audio ({', '.join(VOICE_EXTENSIONS)})")
    return clips


def _hashed_item(item: Item, audio_hashes: dict[str, str | None]) -> dict[str, Any]:
    """An item's JSON with audio paths replaced by their content hashes (paths vary
    between machines; content does not)."""
    out = item.to_json()
    for key in ("prompt_audio", "reference_audio"):
        if out[key] is not None:
            out[key] = audio_hashes.get(out[key]) or "missing"
    if "extra_prompt_audio" in out:
        out["extra_prompt_audio"] = [audio_hashes.get(p) or "missing" for p in out["extra_prompt_audio"]]
    return out
