"""What a Whisper transcript depends on besides the audio, and transcribe()'s per-window rules.

The lowest layer of evalkit's ASR: ``AsrOptions`` (every decoding choice, part of the
transcript cache key), the records a decode produces, the interface a backend
implements, and the rules both libraries' ``transcribe()`` apply to each decoded window
(temperature fallback, no-speech skip, seeking past a window). evalkit.metrics.asr
(batching, caching) and evalkit.metrics.asr_backends (the two libraries) both build on
it, and neither imports the other's internals.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from evalkit.types import EvalkitError

SAMPLE_RATE = 16_000  # Whisper's input rate
HOP_LENGTH = 160  # 10 ms mel frames
CHUNK_SECONDS = 30  # Whisper's fixed encoder window
N_SAMPLES = SAMPLE_RATE * CHUNK_SECONDS  # 480,000 samples per window
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3,000 mel frames per window
INPUT_STRIDE = 2  # mel frames per encoder position (conv2 has stride 2): timestamps are 20 ms
TIME_PRECISION = 0.02  # seconds per timestamp token (INPUT_STRIDE * HOP_LENGTH / SAMPLE_RATE)
N_TEXT_CTX = 448  # Whisper's decoder positions: no sequence, prompt included, is longer

BACKENDS = {"openai-whisper": "openai-whisper", "faster-whisper": "faster-whisper"}  # backend -> distribution
PADDINGS = ("mel", "audio")
# Library versions whose transcribe() differs from the installed one in ways that change
# transcripts, reproduced rule by rule (docs/metrics.md, "f5"):
FASTER_WHISPER_0_10 = "faster-whisper==0.10.1"
REPRODUCIBLE = (FASTER_WHISPER_0_10,)
# How stored audio becomes the model's 16 kHz mono input (evalkit.metrics.audio_input).
AUDIO_INPUTS = ("evalkit", "scipy-fft", "pyav", "torchaudio")


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
    `max_length`: the longest decoder sequence, prompt included (Hugging Face's
    ``generate`` stops at 448); None keeps the library's own limit (openai-whisper: 224
    new tokens; faster-whisper: 448 in all).
    `long_form`: decode audio past 30 s in further windows (both libraries'
    ``transcribe()``); False keeps only the first 30 s (Hugging Face's feature extractor
    truncates).
    `reproduce`: a library version whose ``transcribe()`` rules are reproduced instead of
    the installed version's (only "faster-whisper==0.10.1", F5-TTS's pin).
    `audio_input`: how the stored audio becomes 16 kHz mono (channels, resampler);
    see evalkit.metrics.audio_input.
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
    max_length: int | None = None
    long_form: bool = True
    reproduce: str | None = None
    audio_input: str = "evalkit"

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
        if self.max_length is not None and not 8 <= self.max_length <= N_TEXT_CTX:
            raise EvalkitError(f"ASR option max_length must be between 8 and {N_TEXT_CTX}, not {self.max_length!r}")
        if self.reproduce is not None and self.reproduce not in REPRODUCIBLE:
            raise EvalkitError(f"ASR option reproduce must be one of {REPRODUCIBLE} or null, not {self.reproduce!r}")
        if self.reproduce == FASTER_WHISPER_0_10 and (self.backend != "faster-whisper" or self.pad != "audio"):
            raise EvalkitError(f"reproduce={FASTER_WHISPER_0_10} needs backend faster-whisper and pad audio "
                               "(that version pads 30 s of zero samples before the log-mel)")
        if self.audio_input not in AUDIO_INPUTS:
            raise EvalkitError(f"ASR option audio_input must be one of {AUDIO_INPUTS}, not {self.audio_input!r}")

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
    def transcribe_long(self, audio: np.ndarray, first: Decoded | None = None) -> str:
        """The library's own sequential transcribe() with the same options. `first`, when
        given, is the first window's decode (already made in a batch), to be reused."""

    @abstractmethod
    def pick_when_all_fail(self, candidates: list[Decoded]) -> Decoded:
        """Which candidate transcribe() keeps when every temperature needed a fallback."""

    def window_text(self, d: Decoded) -> str:
        """The transcript of one decoded window (the library's segments, joined)."""
        return d.text


def needs_fallback(d: Decoded, o: AsrOptions) -> bool:
    """transcribe()'s rule for re-decoding a window at the next temperature.

    A likely silent window (no-speech probability above its threshold) is never
    re-decoded: openai-whisper and faster-whisper >= 1.0 require its log-probability to
    be low as well; faster-whisper 0.10.1 does not (transcribe.py lines 721-725)."""
    too_repetitive = o.compression_ratio_threshold is not None and d.compression_ratio > o.compression_ratio_threshold
    too_unlikely = o.logprob_threshold is not None and d.avg_logprob < o.logprob_threshold
    silence = o.no_speech_threshold is not None and d.no_speech_prob > o.no_speech_threshold
    if o.reproduce != FASTER_WHISPER_0_10:
        silence = silence and too_unlikely
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
