"""Audio input recipes (channel and resampler per protocol) against independent computations,
on real stereo speech (jfk.flac: 44.1 kHz, two different channels)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from evalkit.metrics.audio_input import RECIPES, model_input
from evalkit.metrics.protocols import metric_options
from evalkit.types import EvalkitError


@pytest.fixture(scope="module")
def stereo(jfk):
    audio, rate = sf.read(str(jfk), dtype="float32", always_2d=True)
    assert audio.shape[1] == 2 and np.abs(audio[:, 0] - audio[:, 1]).max() > 0.01
    return audio[: 3 * rate], rate


def test_evalkit_mixes_channels_and_resamples_polyphase(stereo):
    from scipy.signal import resample_poly

    audio, rate = stereo
    expected = resample_poly(audio.mean(axis=1), 160, 441).astype(np.float32)
    np.testing.assert_allclose(model_input(audio, rate, "evalkit"), expected, atol=1e-6)


def test_scipy_fft_is_seed_tts_eval_on_channel_0(stereo):
    from scipy.signal import resample

    audio, rate = stereo
    first = audio[:, 0].astype(np.float64)
    expected = resample(first, int(len(first) * 16_000 / rate)).astype(np.float32)
    assert np.array_equal(model_input(audio, rate, "scipy-fft"), expected)


def test_torchaudio_is_the_reference_sim_scripts_on_channel_0(stereo):
    import torch
    import torchaudio

    audio, rate = stereo
    wav = torch.from_numpy(np.ascontiguousarray(audio.T))  # torchaudio.load's (channels, frames)
    expected = torchaudio.transforms.Resample(orig_freq=rate, new_freq=16_000)(wav)[0].numpy()
    assert np.array_equal(model_input(audio, rate, "torchaudio"), expected)


def test_pyav_is_faster_whisper_decoding_the_16_bit_file(stereo, tmp_path):
    from faster_whisper.audio import decode_audio

    audio, rate = stereo
    path = tmp_path / "stereo16.wav"
    sf.write(str(path), audio, rate, subtype="PCM_16")
    stored, _ = sf.read(str(path), dtype="float32", always_2d=True)  # what evalkit stores and scores
    assert np.array_equal(model_input(stored, rate, "pyav"), decode_audio(str(path), sampling_rate=16_000))


def test_recipes_differ_on_stereo(stereo):
    audio, rate = stereo
    out = {r: model_input(audio, rate, r) for r in RECIPES}
    assert not np.allclose(out["evalkit"][:40_000], out["torchaudio"][:40_000], atol=1e-3)  # mean vs channel 0


def test_protocols_pick_their_peers_recipes():
    assert metric_options("evalkit", "cpu")["wer"]["audio_input"] == "evalkit"
    assert metric_options("seedtts", "cpu")["wer"]["audio_input"] == "scipy-fft"
    assert metric_options("f5", "cpu")["wer"]["audio_input"] == "pyav"
    assert {metric_options(p, "cpu")["sim"]["audio_input"] for p in ("seedtts", "f5")} == {"torchaudio"}
    with pytest.raises(EvalkitError, match="unknown audio input"):
        model_input(np.zeros(10, np.float32), 16_000, "librosa")


def test_asr_backends_do_not_import_the_batching_module():
    """The cycle asr <-> asr_backends is broken: the shared names live in asr_decoding."""
    code = ("import sys, evalkit.metrics.asr_backends, evalkit.metrics.faster_whisper_010; "
            "assert 'evalkit.metrics.asr' not in sys.modules, 'asr_backends imports asr'")
    subprocess.run([sys.executable, "-c", code], check=True)
