"""Speech recognition for intelligibility: Whisper, batched, run once per audio.

Transcripts are cached by (audio sha256, ASR provenance: backend and its version,
model, weights sha256, decoding options), so changing the text normalizer or the WER
aggregation never re-runs ASR.

Batching. Every utterance of up to 30 s (Whisper's window) becomes one log-mel window
and a whole batch is decoded in one call (``whisper.decode`` for openai-whisper; one
``encode`` + ``generate`` for faster-whisper). The window, the decoding options, the
temperature fallback and the no-speech rule are those of each library's own
``transcribe()``, so for a clip of up to 30 s the batched transcript is what
``transcribe()`` gives for it alone. Two cases are handed to the library's sequential
long-form ``transcribe()`` instead, for those items only: audio longer than 30 s, and
(when decoding with timestamps) a window whose last segment ends before the audio does,
where ``transcribe()`` would decode the remainder in a further window.
"""
from __future__ import annotations

import dataclasses
import os
from importlib.metadata import version
from typing import Any, Sequence

import numpy as np

from evalkit.cache import JsonCache, content_key
from evalkit.metrics.asr_backends import load_backend
from evalkit.metrics.asr_decoding import (  # noqa: F401 - re-exported: the names callers know
    BACKENDS,
    N_FRAMES,
    N_SAMPLES,
    SAMPLE_RATE,
    AsrOptions,
    Decoded,
    Transcript,
    WhisperBackend,
    is_no_speech,
    leaves_tail,
    needs_fallback,
)
from evalkit.metrics.audio_input import model_input
from evalkit.types import EvalkitError


def transcribe_batch(backend: WhisperBackend, audios: Sequence[np.ndarray]) -> list[Transcript]:
    """Transcripts of 16 kHz clips, batched as the module docstring describes."""
    o = backend.options
    if not o.long_form:  # the first 30 s only (Hugging Face's feature extractor truncates)
        audios = [a[:N_SAMPLES] for a in audios]
    short = [i for i, a in enumerate(audios) if len(a) <= N_SAMPLES]
    long_form: dict[int, Decoded | None] = {i: None for i, a in enumerate(audios) if len(a) > N_SAMPLES}
    windows = {i: backend.window(audios[i]) for i in short}
    tried: dict[int, list[Decoded]] = {i: [] for i in short}
    pending = short
    for temperature in o.temperatures:
        if not pending:
            break
        decoded = backend.decode([windows[i][0] for i in pending], temperature)
        for i, d in zip(pending, decoded):
            tried[i].append(d)
        pending = [i for i, d in zip(pending, decoded) if needs_fallback(d, o)]
    out: list[Transcript | None] = [None] * len(audios)
    for i in short:
        d = backend.pick_when_all_fail(tried[i]) if i in pending else tried[i][-1]
        skipped = is_no_speech(d, o)
        if not skipped and not o.without_timestamps and leaves_tail(d.tokens, backend.timestamp_begin, windows[i][1]):
            long_form[i] = d  # transcribe() goes on from this window's last timestamp
            continue
        text = "" if skipped else backend.window_text(d)
        out[i] = Transcript(text, d.temperature, d.avg_logprob, d.no_speech_prob, d.compression_ratio)
    for i, first in long_form.items():
        out[i] = Transcript(backend.transcribe_long(audios[i], first), long_form=True)
    return out  # type: ignore[return-value]


class Asr:
    """Cached, lazily loaded ASR for one set of options."""

    def __init__(self, options: AsrOptions, cache: JsonCache | None = None) -> None:
        self.options = options
        self.cache = cache or JsonCache("asr-transcripts")
        self.device = "cpu"
        self._weights = None
        self._backend: WhisperBackend | None = None
        self._provenance: dict[str, Any] | None = None

    @property
    def weights(self):
        if self._weights is None:
            from evalkit.weights import resolve_any

            # `model` is a size ("large-v3": a registered weight) or a local checkpoint path.
            local = os.path.exists(os.path.expanduser(self.options.model))
            self._weights = resolve_any(self.options.model if local else self.options.weights_name())
        return self._weights

    def provenance(self) -> dict[str, Any]:
        if self._provenance is None:
            decoding = dataclasses.asdict(self.options)
            decoding["temperatures"] = list(decoding["temperatures"])  # as run.json reads it back
            backend, model = decoding.pop("backend"), decoding.pop("model")
            self._provenance = {
                "backend": backend,
                "backend_version": version(BACKENDS[backend]),
                "model": model,
                "weights": {"source": self.weights.source, "sha256": self.weights.sha256},
                "decoding": decoding,
            }
        return self._provenance

    def key(self, audio_sha256: str) -> str:
        p = self.provenance()
        # The weights' source is provenance, not identity: the same bytes transcribe alike.
        identity = {**p, "weights": p["weights"]["sha256"]}
        return content_key("asr", audio_sha256, identity)

    def setup(self, device: str) -> None:
        if self.options.compute_type == "float16" and not device.startswith("cuda"):
            raise EvalkitError(
                f"ASR compute_type float16 needs CUDA, but the device is {device!r}; "
                "use the options of evalkit.metrics.protocols.metric_options(protocol, 'cpu')"
            )
        self.device = device

    def backend(self) -> WhisperBackend:
        if self._backend is None:
            self._backend = load_backend(self.options, self.weights.path, self.device)
        return self._backend

    def transcribe(
        self, audio_sha256: Sequence[str], audios: Sequence[np.ndarray], rates: Sequence[int]
    ) -> list[Transcript]:
        """Transcripts from the cache, decoding (in one batch) only the ones missing.
        `audios` are the stored clips, (frames,) or (frames, channels), at `rates`; the
        options' `audio_input` makes them 16 kHz mono."""
        keys = [self.key(h) for h in audio_sha256]
        found = [self.cache.get(k) for k in keys]
        missing = [i for i, hit in enumerate(found) if hit is None]
        if missing:
            clips = [model_input(audios[i], rates[i], self.options.audio_input, SAMPLE_RATE) for i in missing]
            for i, t in zip(missing, transcribe_batch(self.backend(), clips)):
                found[i] = t.to_json()
                self.cache.put(keys[i], found[i])
        return [Transcript(**hit) for hit in found]

    def teardown(self) -> None:
        self._backend = None
