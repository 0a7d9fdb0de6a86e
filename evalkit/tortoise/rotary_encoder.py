"""The transformer encoder inside CLVP and CVVP: exactly the x-transformers configuration they use.

tortoise builds both with its vendored x-transformers as
`ContinuousTransformerWrapper(attn_layers=Encoder(use_rmsnorm=True, ff_glu=True, rotary_pos_emb=True, ...))`.
With every other option at its default that means, per layer pair:

    x = x + Attention(RMSNorm(x))      heads of 64 dims (x-transformers' default, never overridden)
    x = x + GLUFeedForward(RMSNorm(x))  GELU-gated, inner width dim * ff_mult

and a final LayerNorm. Rotary position embedding turns the first 32 dims of each head (max(64 // 2,
32)) of the queries, keys *and values* (x-transformers rotates all three). RMSNorm uses eps 1e-8.
The wrapper adds no absolute positions (rotary is on) and no input/output projection. At inference
tortoise passes no padding mask (CLVP's is all ones, CVVP passes none), so there is none here.

Module names reproduce the checkpoint keys: `attn_layers.layers.{i}.0.0.g` (pre-norm),
`attn_layers.layers.{i}.1.*` (branch: even i attention, odd i feed-forward; CLVP's checkpoint has an
extra `wrap.` level, from the DL-Art-School `CheckpointedLayer` it was trained in),
`attn_layers.rotary_pos_emb.inv_freq` (a persistent buffer, loaded from the checkpoint) and `norm`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HEAD_DIM = 64  # x-transformers' DEFAULT_DIM_HEAD
ROTARY_DIM = max(HEAD_DIM // 2, 32)  # x-transformers: rotary_emb_dim defaults to max(dim_head // 2, 32)
RMS_NORM_EPS = 1e-8
ROTARY_BASE = 10_000


class RMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.scale = dim**-0.5
        self.g = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rms = x.norm(dim=-1, keepdim=True) * self.scale
        return x / rms.clamp(min=RMS_NORM_EPS) * self.g


class RotaryEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        exponents = torch.arange(0, ROTARY_DIM, 2).float() / ROTARY_DIM
        self.register_buffer("inv_freq", 1.0 / ROTARY_BASE**exponents)

    def forward(self, length: int) -> torch.Tensor:
        """Angles (length, ROTARY_DIM): each frequency twice, as [f_0..f_15, f_0..f_15]."""
        angles = torch.outer(torch.arange(length, device=self.inv_freq.device).to(self.inv_freq), self.inv_freq)
        return torch.cat([angles, angles], dim=-1)


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate the first ROTARY_DIM dims of x (..., length, head_dim) in (i, i + ROTARY_DIM/2) pairs."""
    turned, kept = x[..., :ROTARY_DIM], x[..., ROTARY_DIM:]
    first, second = turned.chunk(2, dim=-1)
    rotated_half = torch.cat([-second, first], dim=-1)
    turned = turned * angles.cos().to(x.dtype) + rotated_half * angles.sin().to(x.dtype)
    return torch.cat([turned, kept], dim=-1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        inner = heads * HEAD_DIM
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape

        def heads(projection):
            return rotate(projection(x).view(batch, length, self.heads, HEAD_DIM).transpose(1, 2), angles)

        out = F.scaled_dot_product_attention(heads(self.to_q), heads(self.to_k), heads(self.to_v))
        return self.to_out(out.transpose(1, 2).reshape(batch, length, -1))


class GELUGate(nn.Module):
    """x-transformers' GLU: one projection to twice the width, then value * gelu(gate)."""

    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int):
        super().__init__()
        inner = dim * mult
        # Indices 1 and 2 held x-transformers' identity and (inference-time no-op) dropout; the
        # placeholders keep the output projection at key `net.3`.
        self.net = nn.Sequential(GELUGate(dim, inner), nn.Identity(), nn.Identity(), nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CheckpointWrap(nn.Module):
    """Adds the `wrap.` key level of DL-Art-School's CheckpointedLayer (CLVP's checkpoint has it)."""

    def __init__(self, branch: nn.Module):
        super().__init__()
        self.wrap = branch

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        return self.wrap(x, angles)


class PreNormResidual(nn.ModuleList):
    """[ [RMSNorm], branch ]: x + branch(norm(x)), indexed as x-transformers stores a layer."""

    def __init__(self, dim: int, branch: nn.Module):
        super().__init__([nn.ModuleList([RMSNorm(dim)]), branch])

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        norm, branch = self[0][0], self[1]
        return x + branch(norm(x), angles)


class EncoderLayers(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, ff_mult: int, wrap_branches: bool):
        super().__init__()
        wrap = CheckpointWrap if wrap_branches else (lambda branch: branch)
        branches = []
        for _ in range(depth):
            branches += [Attention(dim, heads), FeedForward(dim, ff_mult)]
        self.layers = nn.ModuleList(PreNormResidual(dim, wrap(branch)) for branch in branches)
        self.rotary_pos_emb = RotaryEmbedding()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = self.rotary_pos_emb(x.shape[1])  # float32: cos/sin are taken before casting
        for layer in self.layers:
            x = layer(x, angles)
        return x


class RotaryEncoder(nn.Module):
    """(batch, length, dim) -> (batch, length, dim)."""

    def __init__(self, dim: int, depth: int, heads: int, ff_mult: int, *, wrap_branches: bool = False):
        super().__init__()
        self.attn_layers = EncoderLayers(dim, depth, heads, ff_mult, wrap_branches)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.attn_layers(x))
