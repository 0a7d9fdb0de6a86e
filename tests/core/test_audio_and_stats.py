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


def test_length_is_refused_from_the_header_without_decoding(tmp_path, monkeypatch):
    """A sparse 10 GiB WAV whose header is valid: refused in a few reads, never decoded."""
    import struct

    head = bytearray(b"RIFF" + struct.pack("<I", 0xFFFFFFF8) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000,
                     32000, 2, 16) + b"data" + struct.pack("<I", 0xFFFFFFF0))
    huge = tmp_path / "huge.wav"
    with open(huge, "wb") as f:
        f.write(head)
        f.truncate(10 * 2**30)  # sparse: takes no disk
    import soundfile

    monkeypatch.setattr(soundfile, "read", lambda *a, **k: pytest.fail("decoded a file the header refuses"))
    with pytest.raises(AudioError, match=r"huge.wav: audio is 134218 s long by its header \(limit 600 s\)"):
        load_audio(huge)


def test_bad_files_are_named_in_plain_words(tmp_path):
    import struct

    sf.write(tmp_path / "ok.wav", np.zeros(1600, dtype="float32"), 16000)
    data = bytearray((tmp_path / "ok.wav").read_bytes())
    data[24:28] = struct.pack("<I", 0)
    (tmp_path / "rate0.wav").write_bytes(bytes(data))
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "zero.wav").write_bytes(b"")
    (tmp_path / "dangling.wav").symlink_to(tmp_path / "gone.wav")
    expected = {
        "rate0.wav": "its WAV header gives a sample rate of 0 Hz",
        "folder.wav": "is a directory, not an audio file",
        "zero.wav": "the file is empty (0 bytes)",
        "dangling.wav": "a symbolic link to",
    }
    for name, message in expected.items():
        with pytest.raises(AudioError) as err:
            load_audio(tmp_path / name)
        assert str(err.value).startswith(f"{tmp_path / name}: ") and message in str(err.value), str(err.value)


def test_a_file_this_user_may_not_read_says_so(tmp_path):
    """As another user where the tests run as root (root reads any file)."""
    import os

    sf.write(tmp_path / "secret.wav", np.zeros(1600, dtype="float32"), 16000)
    (tmp_path / "secret.wav").chmod(0)
    os.chmod(tmp_path, 0o755)
    as_root = os.geteuid() == 0
    if as_root:
        os.seteuid(65534)  # nobody; the saved set-user-ID lets the test become root again
    try:
        with pytest.raises(AudioError) as err:
            load_audio(tmp_path / "secret.wav")
    finally:
        if as_root:
            os.seteuid(0)
    assert str(err.value) == (f"{tmp_path / 'secret.wav'}: permission denied "
                              "(this user may not read the file or its folder)")


def test_silence_ratio_has_an_absolute_floor():
    from evalkit.metrics.timing import silence_ratio

    rate = 16000
    assert silence_ratio(np.zeros(rate, dtype=np.float32), rate) == 1.0  # digital silence
    hiss = np.random.default_rng(0).standard_normal(rate).astype(np.float32) * 1e-4  # -80 dBFS
    assert silence_ratio(hiss, rate) == 1.0
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate).astype(np.float32)
    half = np.concatenate([tone[: rate // 2], np.zeros(rate // 2, dtype=np.float32)])
    assert silence_ratio(half, rate) == pytest.approx(0.5, abs=0.02)
    assert silence_ratio(tone, rate) == 0.0
