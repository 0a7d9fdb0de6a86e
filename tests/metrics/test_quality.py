"""Quality predictors: DNSMOS with Microsoft's real models (from the speechmos wheel),
UTMOS22 against utmos-pytorch on identical random weights, and both through the weights
resolver (pinned hashes, the offline failure)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from metrics_helpers import SENTENCES, score_input

from evalkit.weights import WeightsError, get_spec, resolve

UTMOS_PARITY_TOLERANCE = 1e-5  # per frame score, float32 on the CPU


def noisy_copy(path, out, snr_db: float, seed: int = 0):
    """`path` with white noise at `snr_db` (same length, rate and level of speech)."""
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    noise = np.random.default_rng(seed).normal(0.0, 1.0, len(audio)).astype(np.float32)
    noise *= np.sqrt(np.mean(audio**2) / 10 ** (snr_db / 10))
    sf.write(str(out), np.clip(audio + noise, -1, 1), rate, subtype="PCM_16")
    return out


@pytest.fixture(scope="module")
def dnsmos(tmp_path_factory):
    from importlib.util import find_spec

    if find_spec("speechmos") is None or find_spec("onnxruntime") is None:
        pytest.skip("speechmos/onnxruntime are not installed")
    from evalkit.metrics.dnsmos import Dnsmos

    metric = Dnsmos()
    metric.setup("cpu")
    return metric


@pytest.fixture(scope="module")
def speech(jfk, speak, tmp_path_factory):
    """Real speech: jfk.flac (44.1 kHz stereo) and two espeak-ng clips (22.05 kHz), each
    with a noisy copy at 5 dB SNR."""
    folder = tmp_path_factory.mktemp("noisy")
    clean = [jfk, speak(SENTENCES[0]), speak(SENTENCES[1], "en-us+f3")]
    return [(c, noisy_copy(c, folder / f"noisy{i}.wav", 5.0)) for i, c in enumerate(clean)]


@pytest.fixture(scope="module")
def scored(dnsmos, speech):
    """(inputs, values) of the clean and noisy clips, scored in one batch."""
    inputs = [score_input(p, channels=True) for pair in speech for p in pair]
    return inputs, dnsmos.score(inputs)


def test_dnsmos_scores_clean_speech_above_noisy(scored):
    _, values = scored
    for (clean, noisy), path in zip(zip(values[::2], values[1::2]), ("jfk", "espeak m3", "espeak f3")):
        for field in ("ovrl", "bak", "p808"):
            assert clean[field] > noisy[field] + 0.3, (path, field, clean, noisy)
        assert all(1.0 <= v <= 5.0 for v in (*clean.values(), *noisy.values()))


def test_dnsmos_is_deterministic_and_batch_invariant(dnsmos, scored):
    inputs, together = scored
    picked = [3, 0]  # alone, in another order
    assert [dnsmos.score([inputs[i]])[0] for i in picked] == [together[i] for i in picked]


def test_dnsmos_equals_speechmos_on_16k_audio(dnsmos, speak):
    from speechmos import dnsmos as reference

    audio, rate = sf.read(str(speak(SENTENCES[2])), dtype="float32")
    import librosa

    audio = librosa.resample(audio, orig_sr=rate, target_sr=16_000)
    expected = reference.run(audio, 16_000)
    got = dnsmos.predict(audio, 16_000)
    assert got == pytest.approx({"ovrl": expected["ovrl_mos"], "sig": expected["sig_mos"],
                                 "bak": expected["bak_mos"], "p808": expected["p808_mos"]}, abs=0)


def test_dnsmos_weights_are_the_pinned_files(dnsmos):
    spec = get_spec("microsoft/dnsmos")
    files = dnsmos.weights.files
    assert all(files[f.path] == f.sha256 for f in spec.files)
    assert dnsmos.provenance()["weights"]["source"].startswith("speechmos==")


def test_dnsmos_summaries_are_means_with_intervals(dnsmos, scored):
    _, values = scored
    summaries = dnsmos.aggregate(values, [])
    assert list(summaries) == ["dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"]
    s = summaries["dnsmos_ovrl"]
    assert s.value == pytest.approx(np.mean([v["ovrl"] for v in values])) and s.ci95 and s.higher_is_better


# ---------------------------------------------------------------- UTMOS22


@pytest.fixture(scope="module")
def utmos_pair(tmp_path_factory):
    """(utmos-pytorch's model, a checkpoint of it with random weights)."""
    torch = pytest.importorskip("torch")
    utmos_torch = pytest.importorskip("utmos_pytorch.utmos_torch")
    reference = utmos_torch.UTMOSModel().eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # random weights at sizes where activations neither vanish nor saturate
        for name, p in reference.named_parameters():
            scale = 0.02 if p.dim() > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=generator) * scale + (1.0 if name.endswith("norm.weight") else 0.0))
    path = tmp_path_factory.mktemp("utmos") / "utmos_state_dict.pt"
    torch.save(reference.state_dict(), path)
    return reference, path


def test_utmos_matches_utmos_pytorch_on_random_weights(utmos_pair, jfk):
    import torch
    import torchaudio

    from evalkit.metrics.utmos import load_model

    reference, checkpoint = utmos_pair
    ours = load_model(str(checkpoint), "cpu")
    audio, rate = sf.read(str(jfk), dtype="float32")
    wav = torchaudio.functional.resample(torch.from_numpy(audio.mean(axis=1)), rate, 16_000)[: 3 * 16_000]
    with torch.inference_mode():
        expected = reference(wav[None, None], torch.zeros(1, dtype=torch.int),
                             torch.full((1,), 288, dtype=torch.int))  # UTMOS22's mean listener
        got = ours.frame_scores(wav[None])
    assert got.shape == expected.shape and expected.std() > 1e-3  # frames differ: not a degenerate net
    assert (got - expected).abs().max() <= UTMOS_PARITY_TOLERANCE


def test_utmos_metric_scores_with_a_checkpoint_path(utmos_pair, speak, tmp_path):
    from evalkit.metrics.utmos import Utmos

    _, checkpoint = utmos_pair
    metric = Utmos(model=str(checkpoint))
    metric.setup("cpu")
    clips = []
    for i, sentence in enumerate(SENTENCES[:2]):  # 1.5 s of each (the full-size net is slow on a CPU)
        audio, rate = sf.read(str(speak(sentence)), dtype="float32")
        sf.write(str(tmp_path / f"{i}.wav"), audio[: int(1.5 * rate)], rate)
        clips.append(tmp_path / f"{i}.wav")
    inputs = [score_input(c) for c in clips]
    together = metric.score(inputs)
    assert together == [metric.score([inp])[0] for inp in inputs]  # one clip at a time: batch-invariant
    assert metric.provenance()["weights"]["source"].startswith("local:")
    summary = metric.aggregate(together, [])["utmos"]
    assert summary.value == pytest.approx(np.mean([v["utmos"] for v in together]))


def test_utmos_weights_offline_fail_with_the_fetch_command(tmp_path, monkeypatch):
    from evalkit.metrics.utmos import Utmos

    monkeypatch.setenv("EVALKIT_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = get_spec("utmos22/strong")
    assert spec.files[0].sha256 and len(spec.source.revision) == 40  # pinned file and commit
    with pytest.raises(WeightsError, match=r"evalkit weights fetch utmos22/strong"):
        resolve("utmos22/strong")
    with pytest.raises(WeightsError, match="not available offline"):
        Utmos().provenance()


def test_predictors_are_listed_without_importing_torch():
    import subprocess
    import sys

    code = ("import sys; from evalkit.cli import main; main(['metrics', 'list']); "
            "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "utmos" in out and "dnsmos" in out
