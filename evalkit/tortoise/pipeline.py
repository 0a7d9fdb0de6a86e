"""The TorToiSe chain for one item: voice clips + text -> 24 kHz speech, as tortoise-tts 3.0.0's `tts()` runs it.

    conditioning   AR mels (22.05 kHz, 6 s window) -> AR voice latent; UnivNet mels (24 kHz) -> diffusion voice latent
    ar_sampling    `num_autoregressive_samples` candidate code sequences (`decoding.CodeSampler`)
    clvp_ranking   pad + fix the candidates, score them with CLVP (and CVVP when cvvp_amount > 0), take the best
    ar_latents     the AR model's hidden states for the best candidate, cut at the first run of > 8 calm codes
    diffusion      latents -> UnivNet mel (`sampler.sample_mels`, conditioning-free guidance batched)
    vocoder        mel -> waveform (UnivNet)

Differences from the reference, all deliberate: the models stay on the device (tortoise moves each one to the
GPU and back for every call); all candidates of an item are sampled as one batch (`max_batch` to split);
the KV-cache decoding embeds positions as the model was trained (see autoregressive.py); every random draw
comes from generators seeded by the item's seed, never from global state; bracketed text is not redacted.

Randomness, in the reference's order: one generator on the device draws the AR samples, then the diffusion
noise, then the vocoder noise - as tortoise draws them from the global RNG after `torch.manual_seed(seed)` -
so on CPU the output equals tortoise's components chained that way (tests/tortoise/test_pipeline.py). A
second, CPU generator (seeded from the item seed by hashing) picks the crop of voice clips longer than 6 s,
which tortoise draws from Python's `random`.
"""
from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch

from evalkit.tortoise.audio import DIFFUSION_SAMPLE_RATE, ar_conditioning_mels, diffusion_conditioning_mels
from evalkit.tortoise.autoregressive import speech_length
from evalkit.tortoise.clvp import prepare_codes
from evalkit.tortoise.decoding import CodeSampler, SampledCodes, SamplingOptions
from evalkit.tortoise.models import TortoiseModels
from evalkit.tortoise.presets import MAX_TEXT_TOKENS, TortoiseOptions
from evalkit.tortoise.sampler import SamplerOptions, sample_mels
from evalkit.tortoise.text import model_text_tokens
from evalkit.types import ItemFailure

SAMPLE_RATE = DIFFUSION_SAMPLE_RATE  # the vocoder's output rate
STAGES = ("conditioning", "ar_sampling", "clvp_ranking", "ar_latents", "diffusion", "vocoder")
SCORE_DECIMALS = 4  # candidate score lists in the extras (the chosen score is kept exact)
WARMUP_TEXT = ("The museum opens its new gallery of early photographs next week, and admission is free on Sundays. "
               "Visitors are asked to book a time slot online, to arrive ten minutes early, and to leave large "
               "bags in the cloakroom by the main entrance.")


class StageClock:
    """Wall-clock seconds per stage; on CUDA the device is synchronized at both ends of every stage."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = {}

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, name: str):
        self._sync()
        start = time.perf_counter()
        yield
        self._sync()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


@dataclass(frozen=True)
class Voice:
    """An item's conditioning, from its speaker prompt clips."""

    ar_mels: torch.Tensor  # (1, clips, 80, frames): also what CVVP compares candidates with
    ar_latent: torch.Tensor  # (1, AR model dim)
    diffusion_latent: torch.Tensor  # (1, 2 * diffusion channels)


@dataclass(frozen=True)
class Ranking:
    codes: torch.Tensor  # (N, max_mel_tokens) padded and fixed, as CLVP and the diffusion decoder see them
    clvp: torch.Tensor  # (N,) float32
    cvvp: torch.Tensor | None  # (N,) when cvvp_amount > 0
    best: int


@dataclass(frozen=True)
class Speech:
    audio: torch.Tensor  # (samples,) float32 on CPU, in [-1, 1]
    sample_rate: int
    stages: dict[str, float]
    extras: dict[str, Any]


def crop_seed(seed: int) -> int:
    """Seed of the clip-crop generator: derived from, but not equal to, the item seed."""
    return int.from_bytes(hashlib.sha256(f"{seed}\x00conditioning-crop".encode()).digest()[:8], "little") >> 1


def text_tokens(text: str) -> list[int]:
    """Model text ids; an ItemFailure for text tortoise would refuse (it asserts fewer than 400 ids)."""
    tokens = model_text_tokens(text)
    if len(tokens) > MAX_TEXT_TOKENS:
        raise ItemFailure(f"text is {len(tokens)} tokens long; TorToiSe reads at most {MAX_TEXT_TOKENS}: split it")
    return tokens


class TortoisePipeline:
    """Runs the chain on resident models; keeps the AR sampler (KV cache, CUDA graphs) between items."""

    def __init__(self, models: TortoiseModels, *, cuda_graph: bool = True):
        self.models = models
        self.device = models.device
        # One switch for both stages that capture graphs (AR decode steps, the diffusion forward); on a CPU
        # neither captures, whatever it says.
        self.cuda_graph = cuda_graph
        self.sampler = CodeSampler(models.autoregressive, cuda_graph=cuda_graph and self.device.type == "cuda")

    @torch.inference_mode()
    def synthesize(self, text: str, clips: Sequence[torch.Tensor], options: TortoiseOptions,
                   seed: int | None) -> Speech:
        """One utterance of `text` in the voice of `clips` (1-D float tensors at 22.05 kHz, CPU)."""
        if not clips:
            raise ItemFailure("TorToiSe needs at least one voice clip")
        tokens = torch.tensor(text_tokens(text), device=self.device)
        generator = torch.Generator(self.device)
        seed = generator.seed() if seed is None else generator.manual_seed(seed).initial_seed()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        clock = StageClock(self.device)
        with clock.stage("conditioning"):
            voice = self.conditioning(clips, torch.Generator().manual_seed(crop_seed(seed)))
        with clock.stage("ar_sampling"):
            sampled = self._sample(voice, tokens, options, generator)
        with clock.stage("clvp_ranking"):
            ranking = self.rank(tokens, sampled.codes, voice, options)
        with clock.stage("ar_latents"):
            codes = ranking.codes[ranking.best]
            kept = speech_length(codes)
            latents = self.models.autoregressive.latents(voice.ar_latent, tokens[None], codes[None])[0, :kept]
        with clock.stage("diffusion"):
            [mel] = sample_mels(self.models.diffusion, [latents.float()], voice.diffusion_latent, [generator],
                                _diffusion_options(options, self.models.dtypes.diffusion, self.cuda_graph))
        with clock.stage("vocoder"):
            audio = self.models.vocoder.inference(mel[None], generator=generator)[0, 0].float().cpu()
        extras = self._extras(options, sampled, ranking, kept, seed, len(clips))
        return Speech(audio, SAMPLE_RATE, clock.seconds, extras)

    def _sample(self, voice: Voice, tokens: torch.Tensor, options: TortoiseOptions, generator) -> SampledCodes:
        try:
            return self.sampler.sample(voice.ar_latent, tokens, _sampling_options(options), generator)
        except torch.cuda.OutOfMemoryError:
            # Not split automatically: batches draw one after another, so the split changes the candidates.
            raise ItemFailure(
                f"out of GPU memory sampling {options.num_autoregressive_samples} candidates in batches of "
                f"{options.max_batch or options.num_autoregressive_samples}: set a smaller max_batch "
                "(--option max_batch=16 is tortoise's own batch size)") from None

    def conditioning(self, clips: Sequence[torch.Tensor], crop_generator: torch.Generator) -> Voice:
        """tortoise's `get_conditioning_latents` (AR latent in the AR model's dtype, diffusion latent in float32)."""
        ar_mels = ar_conditioning_mels(clips, crop_generator).to(self.device)
        ar_latent = self.models.autoregressive.conditioning_latent(ar_mels)
        diffusion_mels = diffusion_conditioning_mels(clips).to(self.device)
        return Voice(ar_mels, ar_latent, self.models.diffusion.conditioning_latent(diffusion_mels))

    def rank(self, tokens: torch.Tensor, candidates: torch.Tensor, voice: Voice, options: TortoiseOptions) -> Ranking:
        """Scores every candidate as tortoise does; CLVP's scores are kept even when CVVP alone decides."""
        codes = prepare_codes(candidates, options.max_mel_tokens, self.models.configs.autoregressive.stop_mel_token)
        chunk = options.max_batch or len(codes)
        clvp = torch.cat([self.models.clvp(tokens.expand(len(part), -1), part) for part in codes.split(chunk)]).float()
        cvvp, combined = None, clvp
        if options.cvvp_amount > 0:
            cvvp = torch.cat([self._cvvp(voice.ar_mels, part) for part in codes.split(chunk)]).float()
            combined = cvvp * options.cvvp_amount + clvp * (1 - options.cvvp_amount)
        return Ranking(codes, clvp, cvvp, int(combined.topk(1).indices[0]))

    def _cvvp(self, ar_mels: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """CVVP averaged over the voice clips, each clip's mel compared with every candidate."""
        clips = ar_mels.shape[1]
        scores = [self.models.cvvp(ar_mels[:, j].expand(len(codes), -1, -1), codes) for j in range(clips)]
        return torch.stack(scores).mean(dim=0)

    def warmup(self, options: TortoiseOptions) -> None:
        """One untimed item: sizes the KV cache and captures the sampler's CUDA graphs for these options.

        The text is long (158 tokens, more than most evaluation sentences) because the cache is sized by
        prompt + codes: a longer item later regrows it, which drops and recaptures every graph inside a
        timed item (a shorter one at most captures a graph for one smaller attention window: milliseconds).
        One diffusion step suffices: that stage has no graphs to capture.
        """
        one_second = torch.randn(22050, generator=torch.Generator().manual_seed(0)) * 0.1
        self.synthesize(WARMUP_TEXT, [one_second], replace(options, diffusion_iterations=1), seed=0)

    def _extras(self, options: TortoiseOptions, sampled: SampledCodes, ranking: Ranking, kept: int, seed: int,
                clips: int) -> dict[str, Any]:
        best = ranking.best
        reasons = sampled.stop_reasons()
        lengths = [int(n) for n in sampled.lengths.tolist()]
        extras = {
            "preset": options.preset,
            "random_weights": options.random_weights,
            "dtype": self.models.dtypes.to_json(),
            "seed": seed,
            "voice_clips": clips,
            "num_candidates": len(lengths),
            "max_mel_tokens": options.max_mel_tokens,
            "clvp_scores": [round(s, SCORE_DECIMALS) for s in ranking.clvp.tolist()],
            "chosen_candidate": best,
            "chosen_clvp_score": float(ranking.clvp[best]),
            "tokens_per_candidate": lengths,
            "chosen_tokens": lengths[best],
            "chosen_stop_reason": reasons[best],
            "stop_reasons": {reason: reasons.count(reason) for reason in ("stop_token", "max_length")},
            "silence_truncated": kept < ranking.codes.shape[1],
            "silence_truncation_code": kept if kept < ranking.codes.shape[1] else None,
            # Codes generated before the stop token but cut off: speech after a long pause, lost.
            "silence_dropped_codes": max(lengths[best] - kept, 0),
            "latent_frames": kept,
            "peak_gpu_memory_bytes": (torch.cuda.max_memory_allocated(self.device)
                                      if self.device.type == "cuda" else None),
        }
        if ranking.cvvp is not None:
            extras["cvvp_amount"] = options.cvvp_amount
            extras["cvvp_scores"] = [round(s, SCORE_DECIMALS) for s in ranking.cvvp.tolist()]
            extras["chosen_cvvp_score"] = float(ranking.cvvp[best])
        return extras


def _sampling_options(options: TortoiseOptions) -> SamplingOptions:
    return SamplingOptions(
        num_candidates=options.num_autoregressive_samples, temperature=options.temperature, top_p=options.top_p,
        top_k=options.top_k, repetition_penalty=options.repetition_penalty, max_mel_tokens=options.max_mel_tokens,
        max_batch=options.max_batch,
    )


def _diffusion_options(options: TortoiseOptions, dtype: torch.dtype, cuda_graph: bool) -> SamplerOptions:
    return SamplerOptions(steps=options.diffusion_iterations, cond_free=options.cond_free,
                          cond_free_k=options.cond_free_k, temperature=options.diffusion_temperature, dtype=dtype,
                          cuda_graph=cuda_graph)
