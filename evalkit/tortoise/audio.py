"""Mel-spectrogram features of the TorToiSe pipeline, reproduced from tortoise-tts 3.0.0.

TorToiSe uses two different mel spectrograms:

* the **AR mel** (`ar_mel`): 22.05 kHz audio, 80 mel bins up to 8 kHz, *power* spectrum, natural-log
  compressed and divided per bin by `mel_norms` (tortoise `TorchMelSpectrogram`). The autoregressive
  model's conditioning encoder, CVVP and the discrete VAE read it.
* the **UnivNet mel** (`univnet_mel`): 24 kHz audio, 100 mel bins up to Nyquist (12 kHz), *magnitude*
  spectrum, natural-log compressed, no per-bin normalisation (tortoise `wav_to_univnet_mel`, a Tacotron STFT).
  The diffusion decoder's conditioning encoder reads it, the diffusion decoder generates it (in the
  [-1, 1] "tacotron-normalised" form, see `normalize_tacotron_mel`), and the UnivNet vocoder turns it into
  audio.

Both use a 1024-point periodic Hann window, hop 256 and reflect padding of n_fft / 2 at both ends, and
Slaney-normalised triangular filters (HTK mel scale for the AR mel as torchaudio's default, Slaney mel
scale for the UnivNet mel as librosa's default).

All functions take float waveforms in [-1, 1] as tensors shaped (samples,), (batch, samples) or
(batch, 1, samples) and return (batch, bins, frames); frames = samples // 256 + 1.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
import torchaudio.functional as AF

AR_SAMPLE_RATE = 22050
DIFFUSION_SAMPLE_RATE = 24000  # also the vocoder's output rate
N_FFT = 1024
HOP_LENGTH = 256
AR_N_MELS = 80
AR_F_MAX = 8000.0
UNIVNET_N_MELS = 100
UNIVNET_F_MAX = DIFFUSION_SAMPLE_RATE / 2

# Both mels are log(max(spectrum, 1e-5)).
LOG_FLOOR = 1e-5
# Range of the UnivNet log-mel that the diffusion decoder works in, mapped to [-1, 1]:
# MIN is float32(log(1e-5)), the value of a silent bin; MAX is the largest log-magnitude that
# TorToiSe's author measured over his training data (an empirical constant, not derived).
TACOTRON_MEL_MIN = -11.512925148010254
TACOTRON_MEL_MAX = 2.3143386840820312

# Conditioning clips: the AR side takes 6 s at 22.05 kHz (randomly cropped when longer); the diffusion
# side takes the first 102400 samples at 24 kHz (400 hops, ~4.27 s).
AR_CONDITIONING_SAMPLES = 6 * AR_SAMPLE_RATE
DIFFUSION_CONDITIONING_SAMPLES = 400 * HOP_LENGTH

MEL_NORMS_FILE = Path(__file__).parent / "data" / "mel_norms.pth"
# Waveforms beyond this are almost certainly not float audio (e.g. int16 samples); the reference asserts it.
_MAX_PLAUSIBLE_AMPLITUDE = 10.0


@functools.cache
def _filterbank(sample_rate: int, n_mels: int, f_max: float, mel_scale: str) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) Slaney-normalised triangular mel filters."""
    fb = AF.melscale_fbanks(N_FFT // 2 + 1, 0.0, f_max, n_mels, sample_rate, norm="slaney", mel_scale=mel_scale)
    return fb.T.contiguous()


@functools.cache
def _window() -> torch.Tensor:
    return torch.hann_window(N_FFT, periodic=True)


@functools.cache
def mel_norms() -> torch.Tensor:
    """Per-bin divisors of the AR mel (80 floats); see evalkit/tortoise/data/README.md for provenance."""
    norms = torch.load(MEL_NORMS_FILE, map_location="cpu", weights_only=True)
    if not isinstance(norms, torch.Tensor) or norms.shape != (AR_N_MELS,):
        raise ValueError(f"{MEL_NORMS_FILE}: expected a tensor of {AR_N_MELS} floats, got {type(norms).__name__}")
    return norms


def _as_batch(wav: torch.Tensor) -> torch.Tensor:
    if wav.dim() == 3 and wav.shape[1] == 1:
        wav = wav[:, 0]
    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() != 2:
        raise ValueError("expected a waveform shaped (samples,), (batch, samples) or (batch, 1, samples); "
                         f"got {tuple(wav.shape)}")
    return wav.float()


def _stft_magnitude(wav: torch.Tensor) -> torch.Tensor:
    window = _window().to(device=wav.device, dtype=wav.dtype)
    spec = torch.stft(wav, N_FFT, HOP_LENGTH, N_FFT, window, center=True, pad_mode="reflect", return_complex=True)
    return spec.abs()


def ar_mel(wav: torch.Tensor) -> torch.Tensor:
    """22.05 kHz waveform -> (batch, 80, frames) normalised log power mel (tortoise `TorchMelSpectrogram`)."""
    wav = _as_batch(wav)
    power = _stft_magnitude(wav).pow(2)
    mel = _filterbank(AR_SAMPLE_RATE, AR_N_MELS, AR_F_MAX, "htk").to(wav.device) @ power
    return torch.log(mel.clamp(min=LOG_FLOOR)) / mel_norms().to(wav.device)[:, None]


def univnet_mel(wav: torch.Tensor) -> torch.Tensor:
    """24 kHz waveform -> (batch, 100, frames) log magnitude mel (tortoise `wav_to_univnet_mel`)."""
    wav = _as_batch(wav)
    peak = wav.abs().max().item() if wav.numel() else 0.0
    if peak > _MAX_PLAUSIBLE_AMPLITUDE:
        raise ValueError(f"waveform peak {peak:.1f} is not float audio in [-1, 1] (integer samples?)")
    # float64: the reference's float32 error is ~5e-4 in log near silent bins (where the floor is close);
    # a float32 FFT would add ~1.5e-3 more, so we compute near-exactly instead.
    magnitude = _stft_magnitude(wav.clamp(-1, 1).double())
    fb = _filterbank(DIFFUSION_SAMPLE_RATE, UNIVNET_N_MELS, UNIVNET_F_MAX, "slaney").to(wav.device, torch.float64)
    return torch.log((fb @ magnitude).clamp(min=LOG_FLOOR)).float()


def normalize_tacotron_mel(mel: torch.Tensor) -> torch.Tensor:
    """UnivNet log mel -> the diffusion decoder's [-1, 1] range."""
    return 2 * (mel - TACOTRON_MEL_MIN) / (TACOTRON_MEL_MAX - TACOTRON_MEL_MIN) - 1


def denormalize_tacotron_mel(norm_mel: torch.Tensor) -> torch.Tensor:
    """Inverse of `normalize_tacotron_mel`: diffusion output -> UnivNet log mel for the vocoder."""
    return (norm_mel + 1) / 2 * (TACOTRON_MEL_MAX - TACOTRON_MEL_MIN) + TACOTRON_MEL_MIN


def _pad_or_truncate(wav: torch.Tensor, length: int) -> torch.Tensor:
    if wav.shape[-1] >= length:
        return wav[..., :length]
    return F.pad(wav, (0, length - wav.shape[-1]))


def ar_conditioning_clip(wav: torch.Tensor, generator: torch.Generator | None = None,
                         start: int | None = None) -> torch.Tensor:
    """Pad (with zeros) or crop a 22.05 kHz clip to the AR's 6 s conditioning window (tortoise `format_conditioning`).

    A longer clip is cropped at `start`, or at a uniformly random offset drawn from `generator`
    (tortoise draws it from Python's global `random`, so its crops match ours only through `start`).
    """
    excess = wav.shape[-1] - AR_CONDITIONING_SAMPLES
    if excess <= 0:
        return _pad_or_truncate(wav, AR_CONDITIONING_SAMPLES)
    if start is None:
        start = int(torch.randint(excess + 1, (1,), generator=generator).item())
    if not 0 <= start <= excess:
        raise ValueError(f"crop start {start} outside [0, {excess}] for a clip of {wav.shape[-1]} samples")
    return wav[..., start:start + AR_CONDITIONING_SAMPLES]


def ar_conditioning_mels(clips: Sequence[torch.Tensor], generator: torch.Generator | None = None,
                         starts: Sequence[int | None] | None = None) -> torch.Tensor:
    """Voice clips (each (samples,) or (1, samples) at 22.05 kHz) -> (1, clips, 80, 517), the AR/CVVP input."""
    starts = starts if starts is not None else [None] * len(clips)
    mels = [ar_mel(ar_conditioning_clip(clip.reshape(-1), generator, start))[0] for clip, start in zip(clips, starts)]
    return torch.stack(mels)[None]


def diffusion_conditioning_mels(clips: Sequence[torch.Tensor]) -> torch.Tensor:
    """Voice clips (each (samples,) or (1, samples) at 22.05 kHz) -> (1, clips, 100, 401).

    The input of `DiffusionTts.conditioning_latent`.

    Each clip is resampled to 24 kHz and its first 102400 samples are used (zero-padded when shorter).
    """
    mels = []
    for clip in clips:
        clip = AF.resample(clip.reshape(-1).float(), AR_SAMPLE_RATE, DIFFUSION_SAMPLE_RATE)
        mels.append(univnet_mel(_pad_or_truncate(clip, DIFFUSION_CONDITIONING_SAMPLES))[0])
    return torch.stack(mels)[None]


def diffusion_output_frames(latent_frames: int) -> int:
    """Number of 24 kHz mel frames the diffusion decoder generates for `latent_frames` AR latents.

    Each AR code covers 4 hops of the 22.05 kHz mel; the decoder renders the same duration at 24 kHz.
    """
    return latent_frames * 4 * DIFFUSION_SAMPLE_RATE // AR_SAMPLE_RATE

