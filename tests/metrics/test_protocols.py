"""Scoring protocols: each builds valid metric options with the recipe's settings."""
import pytest

from evalkit.metrics.asr import AsrOptions
from evalkit.metrics.protocols import PROTOCOLS, metric_options
from evalkit.metrics.speaker import SpeakerSimilarity
from evalkit.metrics.wer import WerMetric
from evalkit.types import EvalkitError


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1"])
def test_every_protocol_builds_metrics(protocol, device):
    options = metric_options(protocol, device)
    wer = WerMetric(**options["wer"])  # validates every option
    SpeakerSimilarity(**options["sim"])
    assert wer.options["protocol"] == protocol == options["sim"]["protocol"]
    on_cuda = device.startswith("cuda")
    assert (wer.options["compute_type"] == "float16") == (on_cuda and protocol != "seedtts")


def test_evalkit_default_uses_large_v3_on_cuda_and_tiny_en_on_cpu():
    assert metric_options("evalkit", "cuda")["wer"]["model"] == "large-v3"
    cpu = metric_options("evalkit", "cpu")["wer"]
    assert cpu["model"] == "tiny.en" and cpu["normalizer"] == "whisper-english" and cpu["main"] == "corpus"
    assert cpu["temperatures"] == [0.0]  # greedy only: deterministic


def test_seedtts_recipe():
    o = AsrOptions.from_options(metric_options("seedtts", "cuda")["wer"])
    assert (o.backend, o.model, o.beam_size, o.temperatures, o.without_timestamps) == (
        "openai-whisper",
        "large-v3",
        1,
        (0.0,),
        True,
    )
    assert o.no_speech_threshold is None and o.logprob_threshold is None and o.pad == "audio"
    wer = metric_options("seedtts", "cuda")["wer"]
    assert wer["normalizer"] == "seedtts" and wer["main"] == "macro"


def test_f5_recipe():
    o = AsrOptions.from_options(metric_options("f5", "cuda")["wer"])
    assert (o.backend, o.model, o.beam_size, o.best_of, o.without_timestamps) == (
        "faster-whisper",
        "large-v3",
        5,
        5,
        False,
    )
    assert o.temperatures == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert (o.compression_ratio_threshold, o.logprob_threshold, o.no_speech_threshold) == (2.4, -1.0, 0.6)
    wer = metric_options("f5", "cuda")["wer"]
    assert wer["normalizer"] == "f5" and wer["main"] == "macro"


def test_reference_protocols_label_their_sim_as_a_stand_in():
    for protocol in ("seedtts", "f5"):
        sim = SpeakerSimilarity(**metric_options(protocol, "cuda")["sim"])
        assert sim.note() == "ecapa stands in for the protocol's wavlm-ecapa speaker model"
    assert SpeakerSimilarity(**metric_options("evalkit", "cuda")["sim"]).note() is None
    with pytest.raises(EvalkitError, match="needs sim.model"):
        SpeakerSimilarity(**{**metric_options("f5", "cuda")["sim"], "embedder": "wavlm-ecapa"})


def test_options_are_fresh_copies():
    metric_options("evalkit", "cpu")["wer"]["temperatures"].append(1.0)
    assert metric_options("evalkit", "cpu")["wer"]["temperatures"] == [0.0]


def test_unknown_protocol_is_a_clear_error():
    with pytest.raises(EvalkitError, match="unknown scoring protocol 'seed'.*seedtts"):
        metric_options("seed", "cpu")
