"""The two Whisper implementations behind evalkit.metrics.asr.

Each reproduces its library's ``transcribe()`` for one window — same log-mel window,
prompt, suppressed tokens, decoding parameters per temperature and derived scores —
but decodes a whole batch of windows in one call.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from evalkit.metrics.asr_decoding import (
    FASTER_WHISPER_0_10,
    N_FRAMES,
    N_SAMPLES,
    AsrOptions,
    Decoded,
    WhisperBackend,
)

# Both libraries' default: the first timestamp may not be later than 1 s.
MAX_INITIAL_TIMESTAMP_S = 1.0


class OpenAIWhisper(WhisperBackend):
    def __init__(self, options: AsrOptions, model, device: str) -> None:
        """`model`: a loaded ``whisper.model.Whisper`` on `device`."""
        super().__init__(options)
        from whisper.tokenizer import get_tokenizer

        self.device = device
        self.model = model
        if options.compute_type == "float16":
            half_weights(model)
        self.tokenizer = get_tokenizer(
            self.model.is_multilingual,
            num_languages=self.model.num_languages,
            language=options.language,
            task="transcribe",
        )
        self.timestamp_begin = self.tokenizer.timestamp_begin

    def window(self, audio: np.ndarray) -> tuple[Any, int]:
        import torch
        from whisper.audio import log_mel_spectrogram, pad_or_trim

        n_mels = self.model.dims.n_mels
        samples = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        if self.options.pad == "audio":
            return log_mel_spectrogram(pad_or_trim(samples), n_mels, device=self.device), len(audio) // 160
        # transcribe(): log-mel of the clip followed by 30 s of zeros, cut at the content.
        mel = log_mel_spectrogram(samples, n_mels, padding=N_SAMPLES, device=self.device)
        content = mel.shape[-1] - N_FRAMES
        return pad_or_trim(mel[:, :content], N_FRAMES), content

    def _decoding_options(self, temperature: float):
        from whisper.decoding import DecodingOptions

        o = self.options
        kwargs: dict[str, Any] = {}
        if temperature > 0:
            kwargs["best_of"] = o.best_of
        elif o.beam_size > 1:
            kwargs.update(beam_size=o.beam_size, patience=o.patience)
        if o.max_length is not None:
            kwargs["sample_len"] = self.sample_len()
        return DecodingOptions(
            task="transcribe",
            language=o.language,
            temperature=temperature,
            without_timestamps=o.without_timestamps,
            fp16=o.compute_type == "float16",
            **kwargs,
        )

    def sample_len(self) -> int:
        """New tokens allowed by `max_length` (a sequence limit that counts the prompt,
        as Hugging Face's generate does; openai-whisper's sample_len counts new tokens)."""
        tok = self.tokenizer
        prompt = tok.sot_sequence_including_notimestamps if self.options.without_timestamps else tok.sot_sequence
        return self.options.max_length - len(prompt)

    def decode(self, windows: list[Any], temperature: float) -> list[Decoded]:
        import torch
        from whisper.decoding import decode

        mel = torch.stack(windows).to(self.device)
        results = decode(self.model, mel, self._decoding_options(temperature))
        return [
            Decoded(list(r.tokens), r.text, r.avg_logprob, r.no_speech_prob, r.compression_ratio, temperature)
            for r in results
        ]

    def transcribe_long(self, audio: np.ndarray, first: Decoded | None = None) -> str:
        import whisper

        o = self.options
        extra: dict[str, Any] = {"beam_size": o.beam_size, "patience": o.patience} if o.beam_size > 1 else {}
        if o.max_length is not None:
            extra["sample_len"] = self.sample_len()
        if any(t > 0 for t in o.temperatures):
            extra["best_of"] = o.best_of
        result = whisper.transcribe(
            self.model,
            np.ascontiguousarray(audio, dtype=np.float32),
            temperature=o.temperatures,
            compression_ratio_threshold=o.compression_ratio_threshold,
            logprob_threshold=o.logprob_threshold,
            no_speech_threshold=o.no_speech_threshold,
            condition_on_previous_text=True,
            verbose=None,
            language=o.language,
            without_timestamps=o.without_timestamps,
            fp16=o.compute_type == "float16",
            **extra,
        )
        return result["text"]

    def pick_when_all_fail(self, candidates: list[Decoded]) -> Decoded:
        return candidates[-1]  # openai-whisper keeps the last temperature's result


class FasterWhisper(WhisperBackend):
    def __init__(self, options: AsrOptions, folder: Path, device: str) -> None:
        super().__init__(options)
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        kind, _, index = device.partition(":")
        self.model = WhisperModel(
            str(folder), device=kind, device_index=int(index or 0), compute_type=options.compute_type
        )
        multilingual = self.model.model.is_multilingual
        self.tokenizer = Tokenizer(
            self.model.hf_tokenizer,
            multilingual,
            task="transcribe",
            language=options.language if multilingual else "en",
        )
        self.reproduce_010 = options.reproduce == FASTER_WHISPER_0_10
        # 0.10.1 passes [-1] to CTranslate2 (its default set); 1.x expands the list itself.
        self.suppress_tokens = [-1] if self.reproduce_010 else get_suppressed_tokens(self.tokenizer, [-1])
        self.timestamp_begin = self.tokenizer.timestamp_begin
        self.mel_filters = self.model.feature_extractor.mel_filters
        if self.reproduce_010:
            from evalkit.metrics.faster_whisper_010 import mel_filters

            self.mel_filters = mel_filters(len(self.mel_filters))
        self.max_length = options.max_length or self.model.max_length

    def window(self, audio: np.ndarray) -> tuple[Any, int]:
        from faster_whisper.audio import pad_or_trim

        if self.reproduce_010:
            from evalkit.metrics.faster_whisper_010 import log_mel

            features = log_mel(audio, self.mel_filters)
            return features[:, :N_FRAMES], features.shape[-1] - N_FRAMES
        extract = self.model.feature_extractor
        if self.options.pad == "audio":
            padded = np.pad(audio, (0, N_SAMPLES - len(audio)))
            return extract(padded, padding=0), len(audio) // 160
        features = extract(audio)  # transcribe(): 160 zero samples appended, last frame dropped
        content = features.shape[-1] - 1
        return pad_or_trim(features[:, :content]), content

    def prompt(self, previous_tokens: list[int]) -> list[int]:
        without_timestamps = self.options.without_timestamps
        return self.model.get_prompt(self.tokenizer, previous_tokens, without_timestamps=without_timestamps)

    def decode(self, windows: list[Any], temperature: float, prompt: list[int] | None = None) -> list[Decoded]:
        from faster_whisper.transcribe import get_compression_ratio

        o = self.options
        if temperature > 0:
            kwargs = {
                "beam_size": 1,
                "num_hypotheses": o.best_of,
                "sampling_topk": 0,
                "sampling_temperature": temperature,
            }
        else:
            kwargs = {"beam_size": o.beam_size, "patience": o.patience}
        encoded = self.model.encode(np.ascontiguousarray(np.stack(windows), dtype=np.float32))
        prompt = self.prompt([]) if prompt is None else prompt
        results = self.model.model.generate(
            encoded,
            [prompt] * len(windows),
            max_length=self.max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self.suppress_tokens,
            max_initial_timestamp_index=int(round(MAX_INITIAL_TIMESTAMP_S / self.model.time_precision)),
            **kwargs,
        )
        decoded = []
        for r in results:
            tokens = r.sequences_ids[0]
            # transcribe()'s recovery of the mean log-probability (length_penalty = 1).
            avg_logprob = r.scores[0] * len(tokens) / (len(tokens) + 1)
            text = self.tokenizer.decode(tokens).strip()
            decoded.append(
                Decoded(tokens, text, avg_logprob, r.no_speech_prob, get_compression_ratio(text), temperature)
            )
        return decoded

    def window_text(self, d: Decoded) -> str:
        if self.reproduce_010:
            from evalkit.metrics.faster_whisper_010 import window_text

            return window_text(self, d)
        return d.text

    def transcribe_long(self, audio: np.ndarray, first: Decoded | None = None) -> str:
        if self.reproduce_010:
            from evalkit.metrics.faster_whisper_010 import transcribe

            return transcribe(self, audio, first)
        o = self.options
        segments, _ = self.model.transcribe(
            np.ascontiguousarray(audio, dtype=np.float32),
            language=o.language,
            beam_size=o.beam_size,
            best_of=o.best_of,
            patience=o.patience,
            temperature=list(o.temperatures),
            compression_ratio_threshold=o.compression_ratio_threshold,
            log_prob_threshold=o.logprob_threshold,
            no_speech_threshold=o.no_speech_threshold,
            without_timestamps=o.without_timestamps,
            condition_on_previous_text=True,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments)

    def pick_when_all_fail(self, candidates: list[Decoded]) -> Decoded:
        # faster-whisper keeps the most likely result among those that were not too repetitive.
        threshold = self.options.compression_ratio_threshold
        below = [c for c in candidates if threshold is None or c.compression_ratio <= threshold]
        return max(below or candidates, key=lambda c: c.avg_logprob)


def half_weights(model) -> None:
    """Store the Linear and Conv1d weights in float16.

    With fp16=True openai-whisper casts these float32 weights to float16 in every
    forward; storing them cast gives the same values (results are bit-identical) and
    decodes about 1.8x faster on large models (REFERENCE-TIMINGS.md: 184 -> 327
    audio-seconds per second at batch 32 on an H200). Embeddings and LayerNorms stay
    float32, where whisper adds or normalizes in float32."""
    import torch

    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv1d)):
            for param in module.parameters(recurse=False):
                param.data = param.data.half()


def load_backend(options: AsrOptions, weights_path: Path, device: str) -> WhisperBackend:
    if options.backend == "openai-whisper":
        import whisper

        model = whisper.load_model(str(weights_path), device=device)  # torch.load(weights_only=True)
        return OpenAIWhisper(options, model, device)
    return FasterWhisper(options, weights_path, device)
