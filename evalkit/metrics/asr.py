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
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Sequence

import numpy as np

from evalkit.audio import resample
from evalkit.cache import JsonCache, content_key
from evalkit.types import EvalkitError

SAMPLE_RATE = 16_000  # Whisper's input rate
HOP_LENGTH = 160  # 10 ms mel frames
CHUNK_SECONDS = 30  # Whisper's fixed encoder window
N_SAMPLES = SAMPLE_RATE * CHUNK_SECONDS  # 480,000 samples per window
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3,000 mel frames per window
INPUT_STRIDE = 2  # mel frames per encoder position (conv2 has stride 2): timestamps are 20 ms

BACKENDS = {"openai-whisper": "openai-whisper", "faster-whisper": "faster-whisper"}  # backend -> distribution
PADDINGS = ("mel", "audio")


@dataclass(frozen=True)
class AsrOptions:
    """Everything that determines a transcript besides the audio.

    `temperatures` is the fallback schedule of ``transcribe()``: decode at the first,
    and retry an item at the next while its compression ratio exceeds
    `compression_ratio_threshold` or its mean log-probability is below
    `logprob_threshold`. A single 0.0 means greedy/beam decoding only (deterministic).
    `pad` says how a clip shorter than 30 s fills the window: "mel" appends zero log-mel
    frames (both libraries' ``transcribe()``), "audio" appends zero samples before the
    log-mel (Hugging Face's WhisperFeatureExtractor, used by Seed-TTS-eval).
    `compute_type`: "float32" or "float16" for openai-whisper (fp16 needs CUDA); any
    CTranslate2 compute type for faster-whisper.
    """

    backend: str = "openai-whisper"
    model: str = "large-v3"
    language: str | None = "en"
    beam_size: int = 1
    best_of: int = 1
    patience: float = 1.0
    temperatures: tuple[float, ...] = (0.0,)
    compression_ratio_threshold: float | None = 2.4
    logprob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    without_timestamps: bool = True
    compute_type: str = "float32"
    pad: str = "mel"

    def __post_init__(self) -> None:
        object.__setattr__(self, "temperatures", tuple(float(t) for t in self.temperatures))
        if self.backend not in BACKENDS:
            raise EvalkitError(f"unknown ASR backend {self.backend!r} (known: {', '.join(BACKENDS)})")
        if self.pad not in PADDINGS:
            raise EvalkitError(f"ASR option pad must be one of {PADDINGS}, not {self.pad!r}")
        if not self.temperatures or self.beam_size < 1 or self.best_of < 1:
            raise EvalkitError("ASR options need at least one temperature, beam_size >= 1 and best_of >= 1")
        if self.backend == "openai-whisper" and self.compute_type not in ("float32", "float16"):
            raise EvalkitError(f"openai-whisper computes in float32 or float16, not {self.compute_type!r}")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> AsrOptions:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in names})

    def weights_name(self) -> str:
        return f"{'whisper' if self.backend == 'openai-whisper' else 'faster-whisper'}/{self.model}"


@dataclass(frozen=True)
class Transcript:
    text: str
    temperature: float | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    long_form: bool = False

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Decoded:
    """One window decoded at one temperature."""

    tokens: list[int]  # text and timestamp tokens, without the prompt and end-of-text
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float


class WhisperBackend(ABC):
    """A loaded Whisper model: one window per clip, one batched decode per temperature."""

    timestamp_begin: int

    def __init__(self, options: AsrOptions) -> None:
        self.options = options

    @abstractmethod
    def window(self, audio: np.ndarray) -> tuple[Any, int]:
        """(30 s log-mel window, content frames) of a 16 kHz clip of at most 30 s."""

    @abstractmethod
    def decode(self, windows: list[Any], temperature: float) -> list[Decoded]:
        """Decode all windows in one batch."""

    @abstractmethod
    def transcribe_long(self, audio: np.ndarray) -> str:
        """The library's own sequential transcribe() with the same options."""

    @abstractmethod
    def pick_when_all_fail(self, candidates: list[Decoded]) -> Decoded:
        """Which candidate transcribe() keeps when every temperature needed a fallback."""


def needs_fallback(d: Decoded, o: AsrOptions) -> bool:
    too_repetitive = o.compression_ratio_threshold is not None and d.compression_ratio > o.compression_ratio_threshold
    too_unlikely = o.logprob_threshold is not None and d.avg_logprob < o.logprob_threshold
    silence = o.no_speech_threshold is not None and d.no_speech_prob > o.no_speech_threshold and too_unlikely
    return (too_repetitive or too_unlikely) and not silence


def is_no_speech(d: Decoded, o: AsrOptions) -> bool:
    """transcribe()'s rule for skipping a window as silence."""
    if o.no_speech_threshold is None or d.no_speech_prob <= o.no_speech_threshold:
        return False
    return not (o.logprob_threshold is not None and d.avg_logprob > o.logprob_threshold)


def leaves_tail(tokens: Sequence[int], timestamp_begin: int, content_frames: int) -> bool:
    """Whether transcribe() would seek back into this window and decode a further one:
    the output has consecutive timestamps but does not end on a single timestamp, and
    the last timestamp lies before the end of the audio."""
    is_ts = [t >= timestamp_begin for t in tokens]
    consecutive = [i for i in range(1, len(tokens)) if is_ts[i] and is_ts[i - 1]]
    single_ending = len(tokens) >= 2 and is_ts[-2:] == [False, True]
    if not consecutive or single_ending:
        return False
    last_ts_frames = (tokens[consecutive[-1] - 1] - timestamp_begin) * INPUT_STRIDE
    return last_ts_frames < content_frames


def transcribe_batch(backend: WhisperBackend, audios: Sequence[np.ndarray]) -> list[Transcript]:
    """Transcripts of 16 kHz clips, batched as the module docstring describes."""
    o = backend.options
    short = [i for i, a in enumerate(audios) if len(a) <= N_SAMPLES]
    long_form = [i for i, a in enumerate(audios) if len(a) > N_SAMPLES]
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
        if not o.without_timestamps and leaves_tail(d.tokens, backend.timestamp_begin, windows[i][1]):
            long_form.append(i)
            continue
        text = "" if is_no_speech(d, o) else d.text
        out[i] = Transcript(text, d.temperature, d.avg_logprob, d.no_speech_prob, d.compression_ratio)
    for i in long_form:
        out[i] = Transcript(backend.transcribe_long(audios[i]), long_form=True)
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
            from evalkit.metrics.asr_backends import load_backend

            self._backend = load_backend(self.options, self.weights.path, self.device)
        return self._backend

    def transcribe(
        self, audio_sha256: Sequence[str], audios: Sequence[np.ndarray], rates: Sequence[int]
    ) -> list[Transcript]:
        """Transcripts from the cache, decoding (in one batch) only the ones missing."""
        keys = [self.key(h) for h in audio_sha256]
        found = [self.cache.get(k) for k in keys]
        missing = [i for i, hit in enumerate(found) if hit is None]
        if missing:
            clips = [resample(np.asarray(audios[i], dtype=np.float32), rates[i], SAMPLE_RATE) for i in missing]
            for i, t in zip(missing, transcribe_batch(self.backend(), clips)):
                found[i] = t.to_json()
                self.cache.put(keys[i], found[i])
        return [Transcript(**hit) for hit in found]

    def teardown(self) -> None:
        self._backend = None
