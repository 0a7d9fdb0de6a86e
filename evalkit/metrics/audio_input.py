"""How stored audio becomes a model's 16 kHz mono input, as each protocol's reference does.

A recipe fixes which channel(s) a model hears and how the audio is resampled. The
reproduction protocols follow their reference scripts line by line (docs/metrics.md
cites them); evalkit's own protocol mixes channels down and resamples with a polyphase
filter. Recipes differ only on stereo files and at rates other than 16 kHz, but there
they change transcripts and embeddings, so each is part of its metric's provenance.

- ``evalkit``: mean of the channels; polyphase resampling (``evalkit.audio.resample``).
- ``scipy-fft``: channel 0; ``scipy.signal.resample`` (FFT) to ``int(len * 16000 / rate)``
  samples, in float64 (Seed-TTS-eval ``run_wer.py``).
- ``pyav``: FFmpeg through PyAV: the file's 16-bit samples, downmixed to mono and
  resampled by libswresample to 16-bit, then divided by 32768 (faster-whisper's
  ``decode_audio``, which F5-TTS's ``transcribe(path)`` calls).
- ``torchaudio``: channel 0; ``torchaudio.functional.resample`` with its defaults
  (windowed sinc, ``torchaudio.transforms.Resample``'s; Seed-TTS-eval's
  ``verification.py`` and F5-TTS's ``run_sim``).
"""
from __future__ import annotations

import io

import numpy as np

from evalkit.audio import resample
from evalkit.types import EvalkitError

RECIPES = {
    "evalkit": "mean of channels, polyphase resampling",
    "scipy-fft": "channel 0, scipy.signal.resample (FFT), as Seed-TTS-eval run_wer.py",
    "pyav": "FFmpeg (PyAV) 16-bit mono downmix and resampling, as faster-whisper decode_audio (F5-TTS ASR)",
    "torchaudio": "channel 0, torchaudio resample (windowed sinc), as the reference SIM scripts",
}


def channels_of(audio: np.ndarray) -> np.ndarray:
    """(frames, channels) view of a mono (frames,) or multi-channel clip."""
    audio = np.asarray(audio)
    return audio[:, None] if audio.ndim == 1 else audio


def model_input(audio: np.ndarray, rate: int, recipe: str, target_rate: int = 16_000) -> np.ndarray:
    """float32 mono at `target_rate` from `audio` ((frames,) or (frames, channels)) at `rate`."""
    frames = channels_of(audio)
    if recipe == "evalkit":
        mono = frames.mean(axis=1, dtype=np.float32) if frames.shape[1] > 1 else frames[:, 0]
        return resample(np.asarray(mono, dtype=np.float32), rate, target_rate)
    if recipe == "scipy-fft":
        first = frames[:, 0].astype(np.float64)  # soundfile.read's default dtype
        if rate != target_rate:
            from scipy.signal import resample as fft_resample

            first = fft_resample(first, int(len(first) * target_rate / rate))
        return first.astype(np.float32)  # the feature extractor's first step
    if recipe == "pyav":
        return _pyav(frames, rate, target_rate)
    if recipe == "torchaudio":
        if rate == target_rate:
            return np.ascontiguousarray(frames[:, 0], dtype=np.float32)
        import torch
        import torchaudio

        # F5-TTS resamples the (channels, frames) tensor torchaudio.load gives, then uses
        # channel 0; Seed-TTS-eval picks the channel first (a difference of ~1e-6).
        wav = torch.from_numpy(np.ascontiguousarray(frames.T, dtype=np.float32))
        return torchaudio.transforms.Resample(orig_freq=rate, new_freq=target_rate)(wav)[0].numpy()
    raise EvalkitError(f"unknown audio input {recipe!r} (known: {', '.join(RECIPES)})")


def _pyav(frames: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """faster-whisper's decode_audio on a 16-bit WAV of the clip (evalkit stores 16-bit
    audio, so this is the file a reference run would read)."""
    import soundfile as sf
    from faster_whisper.audio import decode_audio

    buf = io.BytesIO()
    sf.write(buf, np.clip(frames, -1.0, 1.0), rate, format="WAV", subtype="PCM_16")
    buf.seek(0)
    return np.asarray(decode_audio(buf, sampling_rate=target_rate), dtype=np.float32)
