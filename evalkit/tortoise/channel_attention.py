"""Self-attention over the time axis of a (batch, channels, time) signal: tortoise's `AttentionBlock`.

Used by the autoregressive model's conditioning encoder and by CVVP. Parameter names (`norm`, `qkv`,
`proj_out`) and the fused-projection layout match the checkpoints: `qkv` is a 1x1 convolution whose
3*channels outputs are grouped per head as [q | k | v] (each `channels // heads` wide), i.e. the head
index varies slowest ("legacy" QKV order, not [all q | all k | all v]). No relative position bias:
none of the checkpoints this serves use one.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def group_norm_groups(channels: int) -> int:
    """tortoise's `normalization()` rule: 32 groups, fewer for narrow layers, halved until it divides."""
    groups = 8 if channels <= 16 else 16 if channels <= 64 else 32
    while channels % groups:
        groups //= 2
    if groups <= 2:
        raise ValueError(f"no valid GroupNorm grouping for {channels} channels")
    return groups


class Float32GroupNorm(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the input dtype (tortoise's `GroupNorm32`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).to(x.dtype)


class ChannelAttentionBlock(nn.Module):
    def __init__(self, channels: int, heads: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels are not divisible by {heads} heads")
        self.heads = heads
        self.norm = Float32GroupNorm(group_norm_groups(channels), channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, kernel_size=1)
        self.proj_out = nn.Conv1d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, length = x.shape
        qkv = self.qkv(self.norm(x)).view(batch, self.heads, 3, channels // self.heads, length)
        # (batch, heads, time, head_dim); contiguous, because strided views send
        # scaled_dot_product_attention to its slow unfused kernel on CUDA.
        q, k, v = (qkv[:, :, i].transpose(-1, -2).contiguous() for i in range(3))
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj_out(out.transpose(-1, -2).reshape(batch, channels, length))
