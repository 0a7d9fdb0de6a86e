"""faster-whisper 0.10.1's transcribe(), reproduced on the installed faster-whisper.

F5-TTS pins ``faster_whisper==0.10.1`` (pyproject.toml, ``eval`` extra). That version
cannot be installed next to evalkit's (its PyAV 10 has no wheel for Python 3.11 and it
needs CTranslate2 < 4), and its ``transcribe()`` differs from 1.x in four ways that
change transcripts. This module reproduces them, each written from the 0.10.1 source
(line numbers of ``faster_whisper/transcribe.py`` and ``feature_extractor.py`` at that
tag, cited in docs/metrics.md):

1. the log-mel: 30 s of zero samples appended to the audio before the STFT
   (feature_extractor.py 150-151), framed with its own reflect padding (74-116) and a
   float64 FFT stored as complex64 (118-143);
2. windows are slices of that log-mel, never cut at the content and re-padded
   (transcribe.py 425);
3. a window whose no-speech probability exceeds the threshold is never re-decoded at a
   higher temperature, whatever its log-probability (721-725);
4. segments whose start equals their end, or whose text is blank, are dropped (584).

The test suite checks features and transcripts against faster-whisper 0.10.1 itself,
installed apart (tests/metrics/test_f5_reference.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from evalkit.metrics.asr_decoding import HOP_LENGTH, INPUT_STRIDE, N_FRAMES, N_SAMPLES, Decoded

if TYPE_CHECKING:
    from evalkit.metrics.asr_backends import FasterWhisper

N_FFT = 400
HALF_WINDOW = (N_FFT - 1) // 2 + 1  # 200: 0.10.1's centring offset
PROMPT_RESET_ON_TEMPERATURE = 0.5  # transcribe()'s default
MAX_PROMPT_TOKENS = 448 // 2 - 1  # previous-text tokens kept in a prompt


def mel_filters(n_mels: int, sample_rate: int = 16_000) -> np.ndarray:
    """0.10.1's Slaney mel filterbank (feature_extractor.py 25-72). The same filters as
    librosa's, but rounded to float32 twice (triangles, then their normalization), so
    they differ from 1.x's in the last bit: enough to change a log-mel value."""
    fft_freqs = np.fft.rfftfreq(n=N_FFT, d=1.0 / sample_rate)
    mels = np.linspace(0.0, 45.245640471924965, n_mels + 2)  # the Slaney mel of 8 kHz
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, log_step = min_log_hz / f_sp, np.log(6.4) / 27.0
    freqs = f_sp * mels
    log_region = mels >= min_log_mel
    freqs[log_region] = min_log_hz * np.exp(log_step * (mels[log_region] - min_log_mel))
    widths = np.diff(freqs)
    ramps = np.subtract.outer(freqs, fft_freqs)
    weights = np.zeros((n_mels, N_FFT // 2 + 1), dtype=np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    weights *= (2.0 / (freqs[2 : n_mels + 2] - freqs[:n_mels]))[:, np.newaxis]
    return weights


def log_mel(audio: np.ndarray, mel_filters: np.ndarray) -> np.ndarray:
    """0.10.1's FeatureExtractor(audio): (n_mels, len(audio) // 160 + 3000) float32."""
    wave = np.pad(np.asarray(audio, dtype=np.float32), (0, N_SAMPLES))
    n = len(wave)
    centres = np.arange(0, n + 1, HOP_LENGTH)
    frames = np.empty((len(centres), N_FFT), dtype=np.float32)
    # Interior frames: the 400 samples around the centre; past the end the signal is the
    # appended zeros, so 0.10.1's reflection there is zeros too.
    tail = np.concatenate([wave, np.zeros(HALF_WINDOW, dtype=np.float32)])
    interior = centres > HALF_WINDOW
    starts = centres[interior] - HALF_WINDOW
    frames[interior] = np.lib.stride_tricks.sliding_window_view(tail, N_FFT)[starts]
    # The first frames reflect the start of the signal (numpy's "reflect", as 0.10.1 pads).
    for row in np.flatnonzero(~interior):
        i = centres[row]
        frames[row] = np.pad(wave[: i + HALF_WINDOW], (HALF_WINDOW - i, 0), mode="reflect")
    window = np.hanning(N_FFT + 1)[:-1]
    spectrum = np.fft.fft(frames * window, axis=1)[:, : N_FFT // 2 + 1].astype(np.complex64).T
    magnitudes = np.abs(spectrum[:, :-1]) ** 2
    mel = mel_filters @ magnitudes
    log_spec = np.log10(np.clip(mel, a_min=1e-10, a_max=None))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


@dataclass(frozen=True)
class Segment:
    start: int  # timestamp positions (20 ms) within the window
    end: int
    tokens: list[int]


def split_segments(tokens: list[int], timestamp_begin: int, segment_size: int) -> tuple[list[Segment], int]:
    """(segments, frames to seek) of one decoded window, as transcribe() splits it
    (transcribe.py 481-554): at consecutive timestamps; without them, the whole window."""
    is_ts = [t >= timestamp_begin for t in tokens]
    single_ending = len(tokens) >= 2 and not is_ts[-2] and is_ts[-1]
    consecutive = [i for i in range(1, len(tokens)) if is_ts[i] and is_ts[i - 1]]
    if not consecutive:
        stamps = [t - timestamp_begin for t in tokens if t >= timestamp_begin]
        # The end only matters for the start == end test: a window that is not split
        # starts at 0 and ends after it, unless its last timestamp is 0.
        end = stamps[-1] if stamps and stamps[-1] != 0 else segment_size
        return [Segment(0, end, tokens)], segment_size
    slices = consecutive + ([len(tokens)] if single_ending else [])
    segments, last = [], 0
    for current in slices:
        part = tokens[last:current]
        segments.append(Segment(part[0] - timestamp_begin, part[-1] - timestamp_begin, part))
        last = current
    if single_ending:
        return segments, segment_size
    return segments, (tokens[last - 1] - timestamp_begin) * INPUT_STRIDE


def kept_texts(backend: FasterWhisper, segments: list[Segment]) -> list[tuple[str, list[int]]]:
    """(text, tokens) of the segments transcribe() yields (start != end, text not blank)."""
    out = []
    for s in segments:
        text = backend.tokenizer.decode(s.tokens)
        if s.start != s.end and text.strip():
            out.append((text, s.tokens))
    return out


def window_text(backend: FasterWhisper, d: Decoded, segment_size: int = N_FRAMES) -> str:
    """The text F5-TTS builds for one window: its kept segments joined by spaces."""
    segments, _ = split_segments(d.tokens, backend.timestamp_begin, segment_size)
    return " ".join(text for text, _ in kept_texts(backend, segments))


def decode_with_fallback(backend: FasterWhisper, window: np.ndarray, prompt: list[int]) -> Decoded:
    from evalkit.metrics.asr_decoding import needs_fallback

    tried = []
    for temperature in backend.options.temperatures:
        d = backend.decode([window], temperature, prompt)[0]
        tried.append(d)
        if not needs_fallback(d, backend.options):
            return d
    return backend.pick_when_all_fail(tried)


def transcribe(backend: FasterWhisper, audio: np.ndarray, first: Decoded | None = None) -> str:
    """generate_segments() of 0.10.1 (no VAD, word timestamps, prefix or initial prompt),
    conditioned on previous text; `first` is window 0's decode when already made."""
    from evalkit.metrics.asr_decoding import is_no_speech

    o = backend.options
    features = log_mel(audio, backend.mel_filters)
    content_frames = features.shape[-1] - N_FRAMES
    seek, all_tokens, reset_since, texts = 0, [], 0, []
    while seek < content_frames:
        segment_size = min(N_FRAMES, content_frames - seek)
        if seek == 0 and first is not None:
            d = first
        else:
            prompt = backend.prompt(all_tokens[reset_since:][-MAX_PROMPT_TOKENS:])
            d = decode_with_fallback(backend, features[:, seek : seek + N_FRAMES], prompt)
        if is_no_speech(d, o):
            seek += segment_size
            continue
        segments, advance = split_segments(d.tokens, backend.timestamp_begin, segment_size)
        seek += advance
        for text, tokens in kept_texts(backend, segments):
            all_tokens.extend(tokens)
            texts.append(text)
        if d.temperature > PROMPT_RESET_ON_TEMPERATURE:
            reset_since = len(all_tokens)
    return " ".join(texts)
