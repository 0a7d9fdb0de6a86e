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
        raise AudioError(f"{source}: the sample rate is {sample_rate} Hz; audio needs a positive sample rate")
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
    its channels: see check_audio); raise AudioError on bad input.

    The length is checked from the header before anything is decoded, and decoding
    stops one frame past the limit, so a huge or lying file is never decoded whole."""
    import soundfile as sf

    path = Path(path)
    _check_file(path)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError/TypeError
        raise AudioError(f"{path}: {unreadable_reason(path, exc)}") from None
    check_length(info.frames, info.samplerate, str(path))
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True, frames=max_frames(info.samplerate))
    except Exception as exc:
        raise AudioError(f"{path}: {unreadable_reason(path, exc)}") from None
    return check_audio(audio, rate, str(path), keep_channels=keep_channels), rate


def _check_file(path: Path) -> None:
    """Missing, a dangling link, a folder, unreadable or empty: said in plain words."""
    try:
        _check_kind(path)
    except PermissionError:  # a folder on the way that this user may not enter
        raise AudioError(f"{path}: permission denied (this user may not read the file or its folder)") from None


def _check_kind(path: Path) -> None:
    if not path.exists():
        if path.is_symlink():
            raise AudioError(f"{path}: a symbolic link to {path.readlink()}, which does not exist")
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file (a device, pipe or socket), not an audio file")
    try:
        with open(path, "rb") as f:
            empty = not f.read(1)
    except PermissionError:
        raise AudioError(f"{path}: permission denied (this user may not read the file or its folder)") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot be read ({exc.strerror})") from None
    if empty:
        raise AudioError(f"{path}: the file is empty (0 bytes)")


def unreadable_reason(path: Path, exc: Exception) -> str:
    """Why libsndfile refused a file, in plain words where the header tells."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        head = b""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" and head[12:16] == b"fmt " and len(head) >= 28:
        if int.from_bytes(head[24:28], "little") == 0:
            return "its WAV header gives a sample rate of 0 Hz (a damaged or hand-made file)"
        if int.from_bytes(head[22:24], "little") == 0:
            return "its WAV header gives 0 channels (a damaged or hand-made file)"
    return f"not a readable audio file ({exc})"


def max_frames(sample_rate: int) -> int:
    """Frames to decode at most: one past the limit, which check_audio then refuses."""
    return int(MAX_SECONDS * sample_rate) + 1 if sample_rate > 0 else -1


# libsndfile's "length unknown" (SF_COUNT_MAX): such a stream is decoded up to the limit.
UNKNOWN_FRAMES = 2**63 - 1


def check_length(frames: int, sample_rate: int, source: str) -> None:
    """Refuse, from a header's frame count, audio longer than MAX_SECONDS."""
    if sample_rate > 0 and frames != UNKNOWN_FRAMES and frames / sample_rate > MAX_SECONDS:
        raise AudioError(f"{source}: audio is {frames / sample_rate:.0f} s long by its header "
                         f"(limit {MAX_SECONDS:.0f} s); not decoded")


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
        info = sf.info(io.BytesIO(data))
        check_length(info.frames, info.samplerate, source)
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True, frames=max_frames(info.samplerate))
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"{source}: not a readable audio file ({exc})") from None
    return check_audio(audio, rate, source, keep_channels=keep_channels), rate
