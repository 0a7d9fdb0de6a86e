"""Scoring protocols: the exact ASR, decoding and normalization recipes of the field.

``metric_options(protocol, device)`` gives the concrete options of the "wer" and "sim"
metrics for a protocol on a device; the runner merges user overrides on top. Every
option set carries ``protocol`` so that metrics.json and reports label which recipe a
figure comes from. Figures of different protocols are not comparable.

- ``evalkit`` (default): corpus WER with openai-whisper's English normalizer on both
  sides, greedy decoding (deterministic), Whisper large-v3 on CUDA; on CPU tiny.en, so
  that the figure is labelled and cached as a different model.
- ``seedtts``: Seed-TTS-eval's run_wer.py for English: Whisper large-v3 (Hugging Face
  transformers ``generate``: greedy, no timestamps, no temperature fallback, no
  no-speech rule, float32, at most 448 tokens prompt included, the first 30 s of audio
  zero-padded to 30 s before the log-mel; channel 0, resampled with
  ``scipy.signal.resample``), punctuation stripped except apostrophes, lower-cased, no
  number normalization; the main figure is the mean of per-utterance WERs.
- ``f5``: F5-TTS's eval (utils_eval.run_asr_wer): faster-whisper large-v3, float16,
  ``transcribe(path, beam_size=5, language="en")`` with the rules of the faster-whisper
  F5-TTS pins, 0.10.1 (evalkit.metrics.faster_whisper_010), and its defaults (best_of 5,
  temperature fallback 0.0..1.0, compression-ratio 2.4, log-prob -1.0, no-speech 0.6,
  timestamps decoded); the file decoded by PyAV (FFmpeg's downmix and resampler); all
  punctuation stripped, lower-cased; main figure the mean of per-utterance WERs.

Both reference recipes score speaker similarity with a WavLM-Large speaker-verification
model (UniSpeech's ECAPA-TDNN on WavLM features, ``wavlm_large_finetune.pth``), whose
checkpoint is not downloadable by evalkit: pass it with ``sim.embedder=wavlm-ecapa
sim.model=<path>``. Otherwise their ``sim`` uses SpeechBrain's ECAPA-TDNN and its rows
carry a note, since those SIM figures are not comparable with the papers'.
"""
from __future__ import annotations

from typing import Any

from evalkit.types import EvalkitError

# The fallback schedule of both libraries' transcribe(): 0.0 to 1.0 in steps of 0.2.
FALLBACK_TEMPERATURES = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
# The speaker model each protocol's published SIM figures use. "wavlm-ecapa" needs the
# user's wavlm_large_finetune.pth (sim.embedder=wavlm-ecapa, sim.model=<path>); without
# it the protocols fall back to "ecapa" and their sim rows carry a note saying so.
SIM_EMBEDDER = {"seedtts": "wavlm-ecapa", "f5": "wavlm-ecapa"}

PROTOCOLS: dict[str, str] = {
    "evalkit": "evalkit default: Whisper large-v3 (tiny.en on CPU) greedy, whisper-english normalizer, corpus WER",
    "seedtts": "Seed-TTS-eval: Whisper-large-v3 greedy, punctuation stripped but apostrophes, mean per-utterance WER",
    "f5": "F5-TTS eval: faster-whisper large-v3 beam 5, all punctuation stripped, mean per-utterance WER",
}


def _cuda(device: str) -> bool:
    return device.startswith("cuda")


def _evalkit(device: str) -> dict[str, dict[str, Any]]:
    return {
        "wer": {
            "backend": "openai-whisper",
            "model": "large-v3" if _cuda(device) else "tiny.en",
            "language": "en",
            "beam_size": 1,
            "best_of": 1,
            "patience": 1.0,
            "temperatures": [0.0],
            "compression_ratio_threshold": 2.4,
            "logprob_threshold": -1.0,
            "no_speech_threshold": 0.6,
            "without_timestamps": True,
            "compute_type": "float16" if _cuda(device) else "float32",
            "pad": "mel",
            "max_length": None,
            "long_form": True,
            "reproduce": None,
            "audio_input": "evalkit",
            "normalizer": "whisper-english",
            "main": "corpus",
        },
        "sim": {"embedder": "ecapa", "model": "speechbrain/spkrec-ecapa-voxceleb", "audio_input": "evalkit"},
    }


def _seedtts(device: str) -> dict[str, dict[str, Any]]:
    base = _evalkit(device)
    base["wer"].update(
        model="large-v3",
        compression_ratio_threshold=None,
        logprob_threshold=None,
        no_speech_threshold=None,
        compute_type="float32",  # from_pretrained(...).to(device) keeps float32 weights
        pad="audio",
        max_length=448,  # generation_config.max_length of openai/whisper-large-v3
        long_form=False,  # the processor keeps the first 30 s
        audio_input="scipy-fft",
        normalizer="seedtts",
        main="macro",
    )
    base["sim"]["audio_input"] = "torchaudio"
    return base


def _f5(device: str) -> dict[str, dict[str, Any]]:
    base = _evalkit(device)
    base["wer"].update(
        backend="faster-whisper",
        model="large-v3",
        beam_size=5,
        best_of=5,
        temperatures=list(FALLBACK_TEMPERATURES),
        without_timestamps=False,
        # F5-TTS runs float16 on CUDA; CTranslate2 has no float16 on CPU.
        compute_type="float16" if _cuda(device) else "float32",
        pad="audio",  # 0.10.1 appends 30 s of zero samples before the log-mel
        reproduce="faster-whisper==0.10.1",  # F5-TTS's pin (pyproject.toml, eval extra)
        audio_input="pyav",  # transcribe(path) decodes the file with PyAV
        normalizer="f5",
        main="macro",
    )
    base["sim"]["audio_input"] = "torchaudio"
    return base


_BUILDERS = {"evalkit": _evalkit, "seedtts": _seedtts, "f5": _f5}


def metric_options(protocol: str, device: str) -> dict[str, dict[str, Any]]:
    """{metric name: options} of `protocol` on `device` ("cpu", "cuda", "cuda:1")."""
    try:
        build = _BUILDERS[protocol]
    except KeyError:
        known = ", ".join(f"{name} ({desc})" for name, desc in PROTOCOLS.items())
        raise EvalkitError(f"unknown scoring protocol {protocol!r}; known: {known}") from None
    options = build(device)
    for metric in options.values():
        metric["protocol"] = protocol
    return options
