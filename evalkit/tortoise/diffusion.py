"""TorToiSe's diffusion decoder (`DiffusionTts`): AR latents + voice latent -> noise prediction on a 24 kHz mel.

Reproduces `tortoise/models/diffusion_decoder.py` of tortoise-tts 3.0.0 at inference (identical state-dict keys
and shapes: 359 entries, 292.3 M parameters at the official size). Differences, all numerically neutral:

* attention runs through `F.scaled_dot_product_attention`, with the T5-style relative position bias as an
  additive mask (the reference adds `bias * sqrt(head_dim)` to `q.k / sqrt(head_dim)` before the softmax);
* `forward` takes the timestep-independent code embedding precomputed (`aligned_embeddings`), and the
  conditioning-free ("unconditioned") embedding is passed the same way, so a caller can run the conditional
  and unconditional passes of classifier-free guidance as one batch;
* an optional `FrameMask` lets items of different lengths share a batch: padded frames are excluded from
  group-norm statistics, attention runs per item on its valid frames only, and padded frames are zeroed before
  every convolution wider than 1, so each item's valid frames get the values they would get alone;
* under `torch.autocast` (reduced precision), group norms, the timestep embedding MLP, the first layer and the
  output head still run in float32 - the reference's own mixed-precision recipe (`use_fp16`: autocast on
  every layer but the first, then `x.float()` before the head).

Training-only parts (layer drop, unconditioned-percentage masking, the `mel_head` auxiliary loss) are not
implemented; `mel_head` is kept as a module so the official checkpoint loads strictly.
"""
from __future__ import annotations

import functools
import math
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from evalkit.tortoise.channel_attention import Float32GroupNorm, group_norm_groups

_REL_POS_BUCKETS = 32
_REL_POS_MAX_DISTANCE = 64
_MAX_PERIOD = 10000  # of the sinusoidal timestep embedding


@dataclass(frozen=True)
class DiffusionConfig:
    model_channels: int = 1024
    num_layers: int = 10
    in_channels: int = 100  # mel bins
    out_channels: int = 200  # epsilon (100) + learned variance interpolation (100)
    in_latent_channels: int = 1024  # AR hidden size
    in_tokens: int = 8193  # DVAE codes + stop token (code conditioning path)
    num_heads: int = 16


# tortoise api.py: DiffusionTts(model_channels=1024, num_layers=10, in_channels=100, out_channels=200,
# in_latent_channels=1024, in_tokens=8193, dropout=0, use_fp16=False, num_heads=16, layer_drop=0,
# unconditioned_percentage=0)
OFFICIAL_DIFFUSION = DiffusionConfig()
TINY_DIFFUSION = DiffusionConfig(model_channels=64, num_layers=2, in_latent_channels=32, in_tokens=50, num_heads=4)


@dataclass(frozen=True)
class FrameMask:
    """Valid frames of a padded batch whose items are prefixes of different lengths.

    `lengths` are Python ints, so attention can be split per item without a device sync (or graph break);
    `valid` is the (B, 1, T) boolean form for norms and convolutions.
    """

    lengths: tuple[int, ...]
    valid: torch.Tensor

    @classmethod
    def from_lengths(cls, lengths: Sequence[int], frames: int, device: torch.device) -> FrameMask | None:
        """None when every item fills all `frames` (nothing to mask)."""
        if all(n == frames for n in lengths):
            return None
        valid = torch.arange(frames, device=device)[None] < torch.tensor(list(lengths), device=device)[:, None]
        return cls(tuple(lengths), valid[:, None])

    def repeat(self, times: int) -> FrameMask:
        return FrameMask(self.lengths * times, self.valid.repeat(times, 1, 1))


class GroupNorm32(Float32GroupNorm):
    """tortoise's float32 GroupNorm; with a frame mask, statistics come from valid frames only."""

    def __init__(self, channels: int):
        super().__init__(group_norm_groups(channels), channels)

    def forward(self, x: torch.Tensor, mask: FrameMask | None = None) -> torch.Tensor:
        if mask is None:
            return super().forward(x)
        h = x.float()
        batch, channels, frames = h.shape
        per_group = channels // self.num_groups
        grouped = h.view(batch, self.num_groups, per_group, frames)
        valid = mask.valid.view(batch, 1, 1, frames)
        count = valid.sum(-1, keepdim=True) * per_group
        mean = (grouped * valid).sum((2, 3), keepdim=True) / count
        # Padded frames set to the mean add nothing to the squared deviations: one fused variance pass over all
        # frames, rescaled from the full count to the valid count.
        var, _ = torch.var_mean(torch.where(valid, grouped, mean), dim=(2, 3), unbiased=False, keepdim=True)
        rstd = torch.rsqrt(var * (per_group * frames) / count + self.eps)
        scale = rstd.expand(-1, -1, per_group, -1).reshape(batch, channels, 1) * self.weight[:, None]
        shift = self.bias[:, None] - mean.expand(-1, -1, per_group, -1).reshape(batch, channels, 1) * scale
        return torch.addcmul(shift, h, scale).to(x.dtype)


def _masked(x: torch.Tensor, mask: FrameMask | None) -> torch.Tensor:
    """Zero padded frames, so a following convolution sees the zero padding of a shorter sequence."""
    return x if mask is None else x * mask.valid.to(x.dtype)


@functools.lru_cache(maxsize=8)
def relative_position_buckets(frames: int, device: torch.device) -> torch.Tensor:
    """(frames, frames) T5 bucket of each (query, key) offset, bidirectional: 32 buckets, exact below 8, log to 64."""
    offset = torch.arange(frames, device=device)[:, None] - torch.arange(frames, device=device)[None, :]
    half = _REL_POS_BUCKETS // 2
    exact = half // 2
    distance = offset.abs()
    # Same float32 operations as the reference, so bucket boundaries agree bit for bit.
    log_bucket = exact + (torch.log(distance.clamp(min=1).float() / exact)
                          / math.log(_REL_POS_MAX_DISTANCE / exact) * (half - exact)).long()
    bucket = torch.where(distance < exact, distance, log_bucket.clamp(max=half - 1))
    return bucket + (offset < 0).long() * half


class RelativePositionBias(nn.Module):
    def __init__(self, heads: int):
        super().__init__()
        self.relative_attention_bias = nn.Embedding(_REL_POS_BUCKETS, heads)
        self.reuse: dict | None = None  # set by `reuse_attention_biases`

    def forward(self, frames: int, scale: float, dtype: torch.dtype) -> torch.Tensor:
        """(1, heads, frames, frames) bias, times `scale`, in `dtype`.

        Scaling and casting the 32-entry table before the gather writes the (heads, frames^2) bias once:
        at 2176 frames that is 150 MB per layer in bfloat16, where scaling after the gather would triple it.
        """
        key = (frames, scale, dtype)
        if self.reuse is not None and key in self.reuse:
            return self.reuse[key]
        device = self.relative_attention_bias.weight.device
        table = (self.relative_attention_bias.weight.T * scale).to(dtype)
        bias = table[:, relative_position_buckets(frames, device)][None]
        if self.reuse is not None:
            self.reuse[key] = bias
        return bias


@contextmanager
def reuse_attention_biases(model: nn.Module):
    """Within the block, each attention layer builds its position bias once per (length, dtype) and reuses it.

    The biases do not depend on the timestep, so a sampling loop saves a (heads, frames^2) gather per layer
    per step (a fifth of a bf16 forward at 2176 frames) for heads x frames^2 x 2 bytes of memory per layer and
    length (150 MB at 2176 frames in bfloat16). Weights must not change inside the block.
    """
    modules = [m for m in model.modules() if isinstance(m, RelativePositionBias)]
    for m in modules:
        m.reuse = {}
    try:
        yield
    finally:
        for m in modules:
            m.reuse = None


class AttentionBlock(nn.Module):
    """Pre-norm multi-head self-attention over frames with relative position bias and a residual connection."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)
        self.relative_pos_embeddings = RelativePositionBias(heads)

    def forward(self, x: torch.Tensor, mask: FrameMask | None = None) -> torch.Tensor:
        batch, channels, frames = x.shape
        head_dim = channels // self.heads
        # The reference lays qkv channels out head-major: [q_h, k_h, v_h] per head. Fused attention
        # kernels need each of q, k, v contiguous in (B, heads, T, head_dim); strided views fall back to
        # the slow unfused path.
        qkv = self.qkv(self.norm(x, mask)).view(batch, self.heads, 3, head_dim, frames)
        q, k, v = qkv.permute(2, 0, 1, 4, 3).contiguous().unbind(0)
        if mask is None:
            h = self._attend(q, k, v)
        else:  # each item on its own valid frames: no padded keys, no mask (basic slicing: graph-capturable)
            h = torch.zeros_like(q)
            for i, n in enumerate(mask.lengths):
                item = (slice(i, i + 1), slice(None), slice(0, n))
                h[item] = self._attend(q[item].contiguous(), k[item].contiguous(), v[item].contiguous())
        return x + self.proj_out(h.transpose(2, 3).reshape(batch, channels, frames))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        bias = self.relative_pos_embeddings(q.shape[2], math.sqrt(q.shape[3]), q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv1, then a timestep-modulated (scale-shift) GroupNorm-SiLU-conv3, plus the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.in_layers = nn.Sequential(GroupNorm32(channels), nn.SiLU(), nn.Conv1d(channels, channels, 1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(channels, 2 * channels))
        # Index 2 held Dropout(p=0) in the reference; the slot keeps parameter names identical.
        self.out_layers = nn.Sequential(GroupNorm32(channels), nn.SiLU(), nn.Identity(),
                                        nn.Conv1d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor, mask: FrameMask | None = None) -> torch.Tensor:
        norm, act, conv = self.in_layers
        h = conv(act(norm(x, mask)))
        with _full_precision(x):
            scale, shift = self.emb_layers(time_emb.float())[..., None].chunk(2, dim=1)
            h = self.out_layers[0](h, mask).float() * (1 + scale) + shift
        h = self.out_layers[3](_masked(self.out_layers[1](h), mask))
        return x + h


class DiffusionLayer(nn.Module):
    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.resblk = ResBlock(channels)
        self.attn = AttentionBlock(channels, heads)

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor, mask: FrameMask | None = None) -> torch.Tensor:
        return self.attn(self.resblk(x, time_emb, mask), mask)


def _full_precision(x: torch.Tensor):
    """Context that suspends autocast, for the parts kept in float32."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.autocast(x.device.type, enabled=False)
    return nullcontext()


def timestep_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """(N,) timesteps -> (N, dim) [cos | sin] sinusoidal embedding with periods up to 10000."""
    half = dim // 2
    freqs = torch.exp(-math.log(_MAX_PERIOD) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class DiffusionTts(nn.Module):
    def __init__(self, config: DiffusionConfig = OFFICIAL_DIFFUSION):
        super().__init__()
        self.config = config
        c, heads = config.model_channels, config.num_heads
        self.inp_block = nn.Conv1d(config.in_channels, c, 3, padding=1)
        self.time_embed = nn.Sequential(nn.Linear(c, c), nn.SiLU(), nn.Linear(c, c))
        # Two ways to condition on the AR output: its discrete codes or (as TorToiSe does) its latents.
        self.code_embedding = nn.Embedding(config.in_tokens, c)
        self.code_converter = nn.Sequential(*(AttentionBlock(c, heads) for _ in range(3)))
        self.code_norm = GroupNorm32(c)
        self.latent_conditioner = nn.Sequential(nn.Conv1d(config.in_latent_channels, c, 3, padding=1),
                                                *(AttentionBlock(c, heads) for _ in range(4)))
        # Voice encoder: two stride-2 convolutions then attention, averaged over time (`conditioning_latent`).
        self.contextual_embedder = nn.Sequential(nn.Conv1d(config.in_channels, c, 3, padding=1, stride=2),
                                                 nn.Conv1d(c, 2 * c, 3, padding=1, stride=2),
                                                 *(AttentionBlock(2 * c, heads) for _ in range(5)))
        self.unconditioned_embedding = nn.Parameter(torch.randn(1, c, 1))
        self.conditioning_timestep_integrator = nn.Sequential(*(DiffusionLayer(c, heads) for _ in range(3)))
        self.integrating_conv = nn.Conv1d(2 * c, c, 1)
        self.mel_head = nn.Conv1d(c, config.in_channels, 3, padding=1)  # training-only auxiliary head
        self.layers = nn.ModuleList([DiffusionLayer(c, heads) for _ in range(config.num_layers)]
                                    + [ResBlock(c) for _ in range(3)])
        self.out = nn.Sequential(GroupNorm32(c), nn.SiLU(), nn.Conv1d(c, config.out_channels, 3, padding=1))

    def conditioning_latent(self, mels: torch.Tensor) -> torch.Tensor:
        """Voice mels (B, clips, 100, frames) or (B, 100, frames) -> (B, 2 * model_channels) voice latent.

        `mels` come from `evalkit.tortoise.audio.diffusion_conditioning_mels`; the latent is the mean over the
        encoded frames of all clips (tortoise `DiffusionTts.get_conditioning`).
        """
        if mels.dim() == 3:
            mels = mels[:, None]
        encoded = torch.cat([self.contextual_embedder(mels[:, j]) for j in range(mels.shape[1])], dim=-1)
        return encoded.mean(dim=-1)

    def aligned_embeddings(self, aligned: torch.Tensor, conditioning_latent: torch.Tensor,
                           output_frames: int) -> torch.Tensor:
        """The timestep-independent code embedding (B, model_channels, output_frames) for one length.

        aligned: AR latents (B, S, in_latent_channels) float, or AR codes (B, S) long.
        conditioning_latent: (B, 2 * model_channels) from `conditioning_latent`; it scales and shifts the
        normalised embedding, which is then stretched to `output_frames` by nearest-neighbour repetition.
        """
        if aligned.is_floating_point():
            code_emb = self.latent_conditioner(aligned.permute(0, 2, 1))
        else:
            code_emb = self.code_converter(self.code_embedding(aligned).permute(0, 2, 1))
        scale, shift = conditioning_latent.chunk(2, dim=1)
        code_emb = self.code_norm(code_emb) * (1 + scale[..., None]) + shift[..., None]
        return F.interpolate(code_emb, size=output_frames, mode="nearest")

    def unconditioned_embeddings(self, batch: int, frames: int) -> torch.Tensor:
        """The code embedding of the conditioning-free pass (B, model_channels, frames)."""
        return self.unconditioned_embedding.expand(batch, -1, frames)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, code_emb: torch.Tensor,
                mask: FrameMask | None = None) -> torch.Tensor:
        """Predict (B, 200, T): epsilon in channels 0..99, variance interpolation values in 100..199.

        x: noisy normalised mel (B, 100, T), zero on padded frames; timesteps: (B,) or (1,) trained-schedule
        indices (0..3999); code_emb: (B, model_channels, T) from `aligned_embeddings` or
        `unconditioned_embeddings`; mask: the valid frames of each item, or None when all are valid.
        """
        with _full_precision(x):
            time_emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels))
        for layer in self.conditioning_timestep_integrator:
            code_emb = layer(code_emb, time_emb, mask)
        h = self.integrating_conv(torch.cat([self.inp_block(_masked(x, mask)), code_emb], dim=1))
        for i, layer in enumerate(self.layers):
            with _full_precision(h) if i == 0 else nullcontext():
                h = layer(h.float() if i == 0 else h, time_emb, mask)
        with _full_precision(h):
            norm, act, conv = self.out
            return conv(_masked(act(norm(h.float(), mask)), mask))
