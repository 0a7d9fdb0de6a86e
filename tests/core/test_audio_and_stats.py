"""Audio validation/resampling, the bootstrap statistics (against independent computations), progress phases."""
from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from evalkit.audio import AudioError, decode_audio, encode_flac, load_audio, resample
from evalkit.metrics import stats


def test_load_mixes_stereo_and_names_bad_files(tmp_path):
    stereo = np.stack([np.full(800, 0.2), np.full(800, 0.4)], axis=1).astype("float32")
    sf.write(tmp_path / "st.wav", stereo, 8000, subtype="FLOAT")
    audio, rate = load_audio(tmp_path / "st.wav")
    assert rate == 8000 and audio.shape == (800,) and np.allclose(audio, 0.3)

    (tmp_path / "text.wav").write_text("this is not audio")
    with pytest.raises(AudioError, match=r"text.wav: not a readable audio file"):
        load_audio(tmp_path / "text.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype="float32"), 8000)
    with pytest.raises(AudioError, match=r"empty.wav: audio is empty"):
        load_audio(tmp_path / "empty.wav")
    nan = np.zeros(100, dtype="float32")
    nan[10:20] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav: audio contains 10 NaN/inf samples"):
        load_audio(tmp_path / "nan.wav")
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "missing.wav")


def test_resample_preserves_a_tone():
    rate_in, rate_out, freq = 22050, 16000, 440.0
    t = np.arange(rate_in) / rate_in
    out = resample(np.sin(2 * np.pi * freq * t).astype("float32"), rate_in, rate_out)
    assert len(out) == rate_out
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * rate_out / len(out) - freq) < 2


def test_flac_round_trip_is_16_bit_exact():
    audio = (np.random.default_rng(0).uniform(-0.9, 0.9, 4000)).astype("float32")
    decoded, rate = decode_audio(encode_flac(audio, 24000), "x")
    assert rate == 24000 and np.max(np.abs(decoded - audio)) <= 1 / 32768 + 1e-7
    assert encode_flac(decoded, 24000) == encode_flac(decoded, 24000)  # deterministic bytes


def test_ratio_ci_matches_a_naive_bootstrap():
    rng = np.random.default_rng(1)
    num = rng.integers(0, 5, 40).astype(float)
    den = rng.integers(5, 20, 40).astype(float)
    lo, hi = stats.ratio_ci(num, den, n_resamples=500, seed=3)
    # independent loop with the same index stream
    idx = np.random.default_rng(3).integers(0, 40, size=(500, 40))
    naive = sorted(num[row].sum() / den[row].sum() for row in idx)
    assert lo == pytest.approx(np.quantile(naive, 0.025)) and hi == pytest.approx(np.quantile(naive, 0.975))
    assert lo < stats.ratio(num, den) < hi


def test_ci_needs_two_items_and_is_deterministic():
    assert stats.ratio_ci([0.5], [1.0]) is None
    assert stats.ratio_ci([0.1, 0.2, 0.9], [1, 1, 1]) == stats.ratio_ci([0.1, 0.2, 0.9], [1, 1, 1])
    assert stats.percentiles([1, 2, 3, 4]) == {"p50": 2.5, "p90": pytest.approx(3.7)}


def test_progress_phases_are_timed_and_logged_above_the_bar(capsys):
    from evalkit.progress import PHASE_LOG_SECONDS, Progress

    bar = Progress(2)
    with bar.phase("slow: loading on cpu"):
        time.sleep(PHASE_LOG_SECONDS + 0.05)
    with bar.phase("quick: loading on cpu"):
        pass
    bar.close()
    err = capsys.readouterr().err
    assert bar.phases["slow: loading on cpu"] >= PHASE_LOG_SECONDS and "quick: loading on cpu" in bar.phases
    assert "slow: loading on cpu: 0." in err and "quick: loading on cpu: " not in err

    quiet = Progress(2, quiet=True)
    with pytest.raises(RuntimeError), quiet.phase("failing"):
        raise RuntimeError("setup failed")
    assert "failing" in quiet.phases and capsys.readouterr().err == ""
