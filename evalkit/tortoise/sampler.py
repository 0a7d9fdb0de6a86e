"""Sampling TorToiSe's diffusion decoder: AR latents -> 24 kHz UnivNet log mel (tortoise `do_spectrogram_diffusion`).

The process is tortoise-tts 3.0.0's `load_discrete_vocoder_diffuser` + `SpacedDiffusion.p_sample_loop`
(improved-diffusion's ancestral "p-sampling"; `tts()` never uses DDIM):

* linear betas from 1e-4 to 0.02, stretched to 4000 trained steps (scale 1000 / 4000), respaced to `steps`
  evenly spaced trained timesteps (`space_timesteps(4000, [steps])`, Python's round-half-even included);
* the model predicts epsilon and a learned-range variance (interpolating, in log space, between the
  posterior variance and beta); predicted x0 is clipped to [-1, 1];
* conditioning-free guidance: eps = (1 + k_t) eps_cond - k_t eps_uncond with k_t = cond_free_k * (1 - i / steps)
  at respaced step i = steps - 1 ... 0 (the reference's "ramp"), variance from the conditional pass.

Unlike the reference, the conditional and unconditional passes run as one batch, position biases are built
once per call, the model's forward is replayed as a CUDA graph on GPUs, several items (with their own lengths)
can be decoded together, and every random draw comes from the caller's `torch.Generator` (one per item):
initial noise (times `temperature`), then one draw per step, the last included (the reference draws it and
masks it out; drawing it keeps whatever the caller draws next, e.g. the vocoder's noise, where the reference
has it) - the same order and shapes as the reference, so a generator seeded like its global RNG reproduces it.

On an H200 (benchmarks/tortoise_decoder.md) an 80-step guided sample of ~23 s of speech takes 1.24 s in
bfloat16 and 2.60 s in float32, against 12.9 s for the reference. Batching items of different lengths is
exact but not faster there than decoding them one after another.
"""
from __future__ import annotations

import functools
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from evalkit.tortoise.audio import denormalize_tacotron_mel, diffusion_output_frames
from evalkit.tortoise.diffusion import DiffusionTts, FrameMask, reuse_attention_biases

TRAINED_STEPS = 4000
# Ho et al.'s linear schedule is defined for 1000 steps; tortoise stretches it to its step count.
_BETA_START, _BETA_END = 1e-4, 0.02


@dataclass(frozen=True)
class SamplerOptions:
    """Diffusion settings of a tortoise preset: ultra_fast 30 steps without guidance, fast 80, standard 200,
    high_quality 400 (with cond_free_k 2 and temperature 1 throughout).

    dtype float32 reproduces the reference; bfloat16 runs the model under autocast (norms, timestep embedding,
    first layer and output head stay float32; 8e-3 relative mel difference to float32 measured on random
    weights); float16 is accepted but untested. The sampling arithmetic is float32 always.
    """

    steps: int = 80
    cond_free: bool = True
    cond_free_k: float = 2.0
    temperature: float = 1.0
    dtype: torch.dtype = torch.float32
    # On CUDA, capture the model's forward once as a CUDA graph and replay it every step: a step is ~1,000
    # kernel launches, which dominate below a few thousand frames.
    cuda_graph: bool = True


def space_timesteps(trained_steps: int, steps: int) -> list[int]:
    """The `steps` trained timesteps to keep, ascending (tortoise `space_timesteps(n, [steps])`)."""
    if not 1 <= steps <= trained_steps:
        raise ValueError(f"diffusion steps must be in [1, {trained_steps}], got {steps}")
    stride = 1.0 if steps == 1 else (trained_steps - 1) / (steps - 1)
    position, kept = 0.0, set()
    for _ in range(steps):  # accumulate like the reference so .5 cases round identically
        kept.add(round(position))
        position += stride
    return sorted(kept)


class SpacedSchedule:
    """Per-step float32 coefficients of the respaced process, computed in float64 as the reference does."""

    def __init__(self, steps: int, trained_steps: int = TRAINED_STEPS):
        scale = 1000 / trained_steps
        base_betas = np.linspace(scale * _BETA_START, scale * _BETA_END, trained_steps, dtype=np.float64)
        base_alphas_cumprod = np.cumprod(1.0 - base_betas)
        self.timesteps = space_timesteps(trained_steps, steps)
        kept_cumprod = base_alphas_cumprod[self.timesteps]
        betas = 1.0 - kept_cumprod / np.append(1.0, kept_cumprod[:-1])
        alphas_cumprod = np.cumprod(1.0 - betas)
        alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        coefficients = {
            "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / alphas_cumprod),
            "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / alphas_cumprod - 1),
            # log variance bounds of the learned range; the first posterior variance (0) is replaced by the second
            "min_log_variance": np.log(np.append(posterior_variance[1], posterior_variance[1:])),
            "max_log_variance": np.log(betas),
            "posterior_mean_coef1": betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * np.sqrt(1.0 - betas) / (1.0 - alphas_cumprod),
        }
        # The reference applies these as float32 tensors; Python floats of float32 values multiply identically.
        self.coefficients = {name: [float(v) for v in values.astype(np.float32)]
                             for name, values in coefficients.items()}

    def __len__(self) -> int:
        return len(self.timesteps)

    def step(self, i: int, x: torch.Tensor, eps: torch.Tensor, variance_values: torch.Tensor,
             noise: torch.Tensor | None) -> torch.Tensor:
        """x_t -> x_{t-1} at respaced step i, from epsilon and the [-1, 1] variance interpolation values."""
        c = {name: values[i] for name, values in self.coefficients.items()}
        frac = (variance_values + 1) / 2
        log_variance = frac * c["max_log_variance"] + (1 - frac) * c["min_log_variance"]
        pred_x0 = (c["sqrt_recip_alphas_cumprod"] * x - c["sqrt_recipm1_alphas_cumprod"] * eps).clamp(-1, 1)
        mean = c["posterior_mean_coef1"] * pred_x0 + c["posterior_mean_coef2"] * x
        return mean if noise is None else mean + torch.exp(0.5 * log_variance) * noise


def _capture(forward, example_x: torch.Tensor):
    """`forward(x, timestep)` as a replayed CUDA graph; its output buffer is reused by the next call."""
    static_x, static_t = example_x.clone(), torch.zeros(1, dtype=torch.long, device=example_x.device)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up: builds cached position biases, selects kernels
        for _ in range(2):
            forward(static_x, static_t)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = forward(static_x, static_t)

    def replay(x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        static_x.copy_(x)
        static_t.copy_(timestep)
        graph.replay()
        return static_out

    return replay


def _draw(generator: torch.Generator, frames: int, channels: int, device: torch.device) -> torch.Tensor:
    return torch.randn(1, channels, frames, generator=generator, device=generator.device).to(device)


def _pad_stack(tensors: Sequence[torch.Tensor], frames: int) -> torch.Tensor:
    return torch.cat([torch.nn.functional.pad(t, (0, frames - t.shape[-1])) for t in tensors])


def _code_embeddings(model: DiffusionTts, latents: Sequence[torch.Tensor], voices: torch.Tensor,
                     lengths: Sequence[int], cond_free: bool) -> torch.Tensor:
    """Timestep-independent embeddings, computed once per item alone and padded: conditional items first, then
    (with guidance) their unconditional twins."""
    frames = max(lengths)
    code_emb = _pad_stack([model.aligned_embeddings(lat.reshape(1, -1, lat.shape[-1]).to(voices.device),
                                                    voices[i:i + 1], n)
                           for i, (lat, n) in enumerate(zip(latents, lengths))], frames)
    if cond_free:
        code_emb = torch.cat([code_emb, model.unconditioned_embeddings(len(latents), frames)])
    return code_emb


@torch.inference_mode()
def sample_mels(model: DiffusionTts, latents: Sequence[torch.Tensor], conditioning_latent: torch.Tensor,
                generators: Sequence[torch.Generator],
                options: SamplerOptions = SamplerOptions()) -> list[torch.Tensor]:
    """Decode AR latents into UnivNet log mels, one item per latent sequence.

    latents: per item (frames, in_latent_channels) (or (1, frames, ...)), already cut at the end of speech
        (`evalkit.tortoise.autoregressive.speech_length`).
    conditioning_latent: (1 or items, 2 * model_channels) voice latents from `DiffusionTts.conditioning_latent`.
    generators: one per item; results for an item depend only on its inputs and its generator, not on the batch.
    Returns per item a (100, diffusion_output_frames(frames)) log mel for `UnivNetGenerator.inference`.
    """
    if len(generators) != len(latents):
        raise ValueError(f"need one generator per item: {len(latents)} items, {len(generators)} generators")
    device, items, channels = next(model.parameters()).device, len(latents), model.config.in_channels
    schedule = SpacedSchedule(options.steps)
    lengths = [diffusion_output_frames(lat.reshape(-1, lat.shape[-1]).shape[0]) for lat in latents]
    frames = max(lengths)
    code_emb = _code_embeddings(model, latents, conditioning_latent.to(device).expand(items, -1), lengths,
                                options.cond_free)
    mask = FrameMask.from_lengths(lengths, frames, device)
    model_mask = mask.repeat(2) if mask is not None and options.cond_free else mask
    graphed = options.cuda_graph and device.type == "cuda"
    # Autocast's weight-cast cache cannot live across graph capture; the graph replays the casts instead.
    autocast = (torch.autocast(device.type, dtype=options.dtype, cache_enabled=not graphed)
                if options.dtype != torch.float32 else nullcontext())
    x = _pad_stack([_draw(g, n, channels, device) * options.temperature for g, n in zip(generators, lengths)], frames)
    with reuse_attention_biases(model), autocast:
        forward = functools.partial(model, code_emb=code_emb, mask=model_mask)
        if graphed:
            forward = _capture(forward, torch.cat([x, x]) if options.cond_free else x)
        for i in reversed(range(len(schedule))):
            timestep = torch.full((1,), schedule.timesteps[i], device=device)
            out = forward(torch.cat([x, x]) if options.cond_free else x, timestep).float()
            eps, variance_values = out[:items, :channels], out[:items, channels:]
            if options.cond_free:
                k = options.cond_free_k * (1 - i / len(schedule))
                eps = (1 + k) * eps - k * out[items:, :channels]
            noise = _pad_stack([_draw(g, n, channels, device) for g, n in zip(generators, lengths)], frames)
            x = schedule.step(i, x, eps, variance_values, None if i == 0 else noise)
            if mask is not None:
                x = x * mask.valid
    mels = denormalize_tacotron_mel(x)
    return [mel[:, :n] for mel, n in zip(mels, lengths)]
