"""Parity of evalkit.tortoise.audio with tortoise-tts 3.0.0's mel features (CPU, float32)."""
import hashlib
import math
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("tortoise")

from evalkit.tortoise import audio  # noqa: E402

REFERENCE_DATA = Path(pytest.importorskip("tortoise").__file__).parent / "data"


@pytest.fixture(scope="module")
def jfk(request):
    """Real speech (11 s, 44.1 kHz) from ../shared/data; skips when absent."""
    shared_data = request.getfixturevalue("shared_data")
    import soundfile

    data, rate = soundfile.read(shared_data / "jfk.flac", dtype="float32", always_2d=True)
    return torch.from_numpy(data[:, 0].copy()), rate


def _resampled(clip, sample_rate):
    import torchaudio.functional as AF

    wav, rate = clip
    return AF.resample(wav, rate, sample_rate)


def _synthetic(sample_rate: int) -> torch.Tensor:
    """Batch of 2: a chirp with noise and a digital-silence gap, and a quiet tone with clicks."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(1.3 * sample_rate)) / sample_rate
    chirp = 0.5 * torch.sin(2 * math.pi * (100 + 2000 * t) * t) + 0.05 * torch.randn(t.shape, generator=g)
    chirp[len(t) // 3: len(t) // 2] = 0
    tone = 0.01 * torch.sin(2 * math.pi * 440 * t)
    tone[:: sample_rate // 10] = 0.9
    return torch.stack([chirp, tone]).float()


def _assert_close(ours, ref):
    # Near silent bins (log floor log(1e-5)) both sides carry float32 rounding of a tiny spectrum that the log
    # magnifies; rtol=1e-4 of |-11.5| still bounds it (observed max |diff| ~5e-4 on real speech).
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)
    assert ((ours - ref).norm() / ref.norm()).item() < 1e-5


def _reference_ar_mel():
    from tortoise.models.arch_util import TorchMelSpectrogram

    return TorchMelSpectrogram()


def _reference_univnet_mel(wav):
    pytest.importorskip("librosa")  # tortoise.utils.audio imports it (filterbank + STFT helpers)
    from tortoise.utils.audio import wav_to_univnet_mel

    return wav_to_univnet_mel(wav, do_normalization=False, device="cpu")


def test_ar_mel_matches_reference_on_real_speech(jfk):
    wav = _resampled(jfk, 22050)[None]
    _assert_close(audio.ar_mel(wav), _reference_ar_mel()(wav))


def test_ar_mel_matches_reference_on_synthetic_signals():
    wav = _synthetic(22050)
    _assert_close(audio.ar_mel(wav), _reference_ar_mel()(wav))


def test_univnet_mel_matches_reference_on_real_speech(jfk):
    wav = _resampled(jfk, 24000)[None]
    _assert_close(audio.univnet_mel(wav), _reference_univnet_mel(wav))


def test_univnet_mel_matches_reference_on_synthetic_signals():
    wav = _synthetic(24000)
    _assert_close(audio.univnet_mel(wav), _reference_univnet_mel(wav))


def test_mel_shapes_and_input_layouts():
    wav = _synthetic(22050)
    frames = wav.shape[-1] // audio.HOP_LENGTH + 1
    assert audio.ar_mel(wav).shape == (2, 80, frames)
    torch.testing.assert_close(audio.ar_mel(wav[0]), audio.ar_mel(wav[:1]))
    torch.testing.assert_close(audio.ar_mel(wav[:, None]), audio.ar_mel(wav))
    assert audio.univnet_mel(wav).shape == (2, 100, frames)
    with pytest.raises(ValueError, match="waveform"):
        audio.ar_mel(torch.zeros(1, 2, 3, 4))


def test_univnet_mel_rejects_integer_scaled_audio():
    with pytest.raises(ValueError, match="not float audio"):
        audio.univnet_mel(torch.full((1, 4096), 3000.0))


def test_vendored_mel_norms_are_the_reference_file():
    vendored = audio.MEL_NORMS_FILE.read_bytes()
    assert hashlib.sha256(vendored).hexdigest() == "1f69422a8a8f344c4fca2f0c6b8d41d2151d6615b7321e48e6bb15ae949b119c"
    assert vendored == (REFERENCE_DATA / "mel_norms.pth").read_bytes()
    assert audio.mel_norms().shape == (80,)


def test_tacotron_normalisation_matches_reference():
    assert audio.TACOTRON_MEL_MIN == float(np.float32(np.log(audio.LOG_FLOOR)))
    pytest.importorskip("librosa")
    from tortoise.utils import audio as ref

    mel = torch.linspace(-12, 3, 101)
    torch.testing.assert_close(audio.normalize_tacotron_mel(mel), ref.normalize_tacotron_mel(mel))
    torch.testing.assert_close(audio.denormalize_tacotron_mel(mel), ref.denormalize_tacotron_mel(mel))
    torch.testing.assert_close(audio.denormalize_tacotron_mel(audio.normalize_tacotron_mel(mel)), mel)
    assert audio.normalize_tacotron_mel(torch.tensor(audio.TACOTRON_MEL_MIN)).item() == pytest.approx(-1)


def _reference_format_conditioning(clip, start):
    # tortoise.api.format_conditioning, whose module costs ~11 s to import (transformers, wav2vec2):
    # zero-pad or crop to 132300 samples, then TorchMelSpectrogram -> (1, 80, frames).
    gap = clip.shape[-1] - 132300
    clip = torch.nn.functional.pad(clip, (0, -gap)) if gap < 0 else clip[:, start:start + 132300]
    return _reference_ar_mel()(clip.unsqueeze(0)).squeeze(0).unsqueeze(0)


def test_ar_conditioning_mels_match_reference_format_conditioning():
    long_clip = _synthetic(22050).reshape(1, -1).repeat(1, 3)[:, :150000]
    short_clip = _synthetic(22050)[1:]
    start = random.Random(7).randint(0, long_clip.shape[-1] - 132300)  # the reference's Python-random crop
    ours = audio.ar_conditioning_mels([long_clip, short_clip], starts=[start, None])
    ref = torch.stack([_reference_format_conditioning(long_clip, start),
                       _reference_format_conditioning(short_clip, 0)], dim=1)
    assert ours.shape == (1, 2, 80, 517)
    _assert_close(ours, ref)


def test_ar_conditioning_crop_is_drawn_from_the_generator():
    clip = torch.randn(200000, generator=torch.Generator().manual_seed(1))
    a = audio.ar_conditioning_clip(clip, torch.Generator().manual_seed(3))
    b = audio.ar_conditioning_clip(clip, torch.Generator().manual_seed(3))
    c = audio.ar_conditioning_clip(clip, torch.Generator().manual_seed(4))
    assert a.shape == (132300,) and torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="crop start"):
        audio.ar_conditioning_clip(clip, start=200000)


def test_diffusion_conditioning_mels_match_reference():
    import torchaudio.functional as AF

    clips = [_synthetic(22050)[0], _synthetic(22050).reshape(-1)]  # shorter and longer than 102400 at 24 kHz
    ours = audio.diffusion_conditioning_mels(clips)
    refs = []
    for clip in clips:  # tortoise.api.TextToSpeech.get_conditioning_latents, diffusion half
        clip = AF.resample(clip[None], 22050, 24000)
        clip = torch.nn.functional.pad(clip, (0, max(0, 102400 - clip.shape[-1])))[:, :102400]
        refs.append(_reference_univnet_mel(clip))
    assert ours.shape == (1, 2, 100, 401)
    _assert_close(ours, torch.stack(refs, dim=1))


def test_diffusion_output_frames_matches_reference_formula():
    for frames in (1, 37, 500):
        assert audio.diffusion_output_frames(frames) == frames * 4 * 24000 // 22050
