"""Audio I/O, validation and resampling (soundfile + scipy; no torch).

torchaudio 2.9 moved load/save to TorchCodec, so evalkit reads and writes with
soundfile and resamples with a polyphase filter. Every error names the file.
"""
from __future__ import annotations

import io
from math import gcd
from pathlib import Path

import numpy as np

# Stored audio is 16-bit FLAC: lossless for TTS output at the precision any metric
# here can see, and about half the size of float WAV.
STORE_SUBTYPE = "PCM_16"
# A file longer than this is almost certainly not an utterance (e.g. a whole book).
MAX_SECONDS = 600.0


class AudioError(ValueError):
    """Unreadable, empty or invalid audio; the message names the source."""


def check_audio(audio: np.ndarray, sample_rate: int, source: str, *, keep_channels: bool = False) -> np.ndarray:
    """Return `audio` as float32 mono (the mean of its channels), or with
    `keep_channels` as (frames, channels) when it has several; raise AudioError naming
    `source`. Channels are kept where a protocol picks one (evalkit.metrics.audio_input)."""
    audio = np.asarray(audio)
    if audio.ndim == 2 and audio.shape[1] == 1:
        audio = audio[:, 0]
    if audio.ndim == 2 and not keep_channels:  # (frames, channels): mix down
        audio = audio.mean(axis=1)
    if audio.ndim not in (1, 2):
        raise AudioError(f"{source}: expected mono or (frames, channels) audio, got shape {audio.shape}")
    if not np.issubdtype(audio.dtype, np.floating):
        raise AudioError(f"{source}: expected float samples, got {audio.dtype}")
    if sample_rate <= 0:
        raise AudioError(f"{source}: invalid sample rate {sample_rate}")
    if audio.size == 0:
        raise AudioError(f"{source}: audio is empty (0 samples)")
    if not np.all(np.isfinite(audio)):
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise AudioError(f"{source}: audio contains {bad} NaN/inf samples")
    if len(audio) / sample_rate > MAX_SECONDS:
        raise AudioError(f"{source}: audio is {len(audio) / sample_rate:.0f} s long (limit {MAX_SECONDS:.0f} s)")
    return audio.astype(np.float32, copy=False)


def load_audio(path: str | Path, *, keep_channels: bool = False) -> tuple[np.ndarray, int]:
    """Read any soundfile-supported file as float32 mono (or, with `keep_channels`, all
    its channels: see check_audio); raise AudioError on bad input."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError/TypeError
        raise AudioError(f"{path}: not a readable audio file ({exc})") from None
    return check_audio(audio, rate, str(path), keep_channels=keep_channels), rate


def mix_down(audio: np.ndarray) -> np.ndarray:
    """Mono float32: the mean of the channels of a (frames, channels) clip."""
    audio = np.asarray(audio)
    return audio.mean(axis=1).astype(np.float32) if audio.ndim == 2 else audio


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy's Kaiser-windowed FIR); identity when rates match."""
    if from_rate == to_rate:
        return audio
    from scipy.signal import resample_poly

    g = gcd(from_rate, to_rate)
    return resample_poly(audio, to_rate // g, from_rate // g).astype(np.float32)


def load_audio_at(path: str | Path, rate: int) -> np.ndarray:
    """Read `path` as float32 mono at `rate` Hz."""
    audio, file_rate = load_audio(path)
    return resample(audio, file_rate, rate)


def encode_flac(audio: np.ndarray, sample_rate: int) -> bytes:
    """Encode float audio as 16-bit FLAC bytes (samples outside [-1, 1] are clipped)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0), sample_rate, format="FLAC", subtype=STORE_SUBTYPE)
    return buf.getvalue()


def decode_audio(data: bytes, source: str, *, keep_channels: bool = False) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{source}: not a readable audio file ({exc})") from None
    return check_audio(audio, rate, source, keep_channels=keep_channels), rate
