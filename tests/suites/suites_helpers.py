"""Helpers for the suite tests (imported as `suites_helpers`)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parents[2]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_audio(path: Path, seconds: float = 0.1, rate: int = 16000, pitch: float = 220.0) -> Path:
    """A short tone; the format (FLAC, WAV) follows the file name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * pitch * t), rate)
    return path


def write_librispeech_tree(test_clean: Path, utterance_ids, seconds: float = 0.1) -> None:
    """test-clean/<speaker>/<chapter>/<id>.flac plus each chapter's .trans.txt (upper-case,
    unpunctuated, as LibriSpeech ships them)."""
    chapters: dict[Path, list[str]] = {}
    for utt in sorted(set(utterance_ids)):
        speaker, chapter, _ = utt.split("-")
        folder = test_clean / speaker / chapter
        write_audio(folder / f"{utt}.flac", seconds, pitch=100 + int(speaker) % 300)
        chapters.setdefault(folder, []).append(f"{utt} WORDS OF {utt}")
    for folder, lines in chapters.items():
        speaker, chapter = folder.parent.name, folder.name
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
