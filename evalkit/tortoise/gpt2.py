"""The GPT-2 decoder stack inside TorToiSe's autoregressive model, with a static KV cache.

Parameters are laid out exactly as in Hugging Face's `GPT2Model` (pre-LayerNorm blocks, "gelu_new",
`Conv1D` projections whose weights are stored input-major, a final `ln_f`; names `h.{i}.ln_1`,
`h.{i}.attn.c_attn`, `h.{i}.attn.c_proj`, `h.{i}.ln_2`, `h.{i}.mlp.c_fc`, `h.{i}.mlp.c_proj`, `ln_f`), so the
official checkpoint loads with identical keys and shapes. TorToiSe deletes GPT-2's token and position
embeddings (it adds its own), so there are none here.

Attention runs through `torch.nn.functional.scaled_dot_product_attention` in three modes:

* `forward(x)`: causal attention over a whole sequence (teacher forcing, the return-latent pass);
* `forward(x, cache)`: the same, also storing every layer's keys/values in slots `[0, len)` of a
  preallocated `KVCache` (prefill; a batch-1 prompt is broadcast into all cache rows);
* `step(x, cache, slot, mask)`: one new position per row; its keys/values are written at `slot` (a
  one-element device tensor) and it attends over the cache under a boolean mask. Every shape is fixed
  by the cache, so a step can be captured in a CUDA graph and replayed at successive slots.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LAYER_NORM_EPS = 1e-5  # GPT2Config.layer_norm_epsilon
MLP_EXPANSION = 4  # GPT2Config.n_inner defaults to 4 * n_embd


class TransposedLinear(nn.Module):
    """`y = x @ weight + bias` with `weight` stored (in, out): the layout of HF GPT-2's `Conv1D`."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight.t(), self.bias)


@dataclass
class KVCache:
    """Keys and values of every layer, shape (layers, batch, heads, slots, head_dim), preallocated.

    `window(batch, slots)` is a view on the first rows and slots: a decode step that attends over a
    window reads fewer bytes, while every view shares this one allocation.
    """

    keys: torch.Tensor
    values: torch.Tensor
    slot_ids: torch.Tensor  # arange(slots): compared with the current slot to build attention masks

    @classmethod
    def allocate(cls, layers, batch, heads, slots, head_dim, dtype, device) -> KVCache:
        shape = (layers, batch, heads, slots, head_dim)
        return cls(
            keys=torch.zeros(shape, dtype=dtype, device=device),
            values=torch.zeros(shape, dtype=dtype, device=device),
            slot_ids=torch.arange(slots, device=device),
        )

    @property
    def batch(self) -> int:
        return self.keys.shape[1]

    @property
    def slots(self) -> int:
        return self.keys.shape[3]

    def window(self, batch: int, slots: int) -> KVCache:
        return KVCache(self.keys[:, :batch, :, :slots], self.values[:, :batch, :, :slots], self.slot_ids[:slots])

    def mask_through(self, slot: torch.Tensor) -> torch.Tensor:
        """Boolean mask (1, 1, 1, slots) admitting slots 0..slot."""
        return (self.slot_ids <= slot).view(1, 1, 1, -1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"model dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.c_attn = TransposedLinear(dim, 3 * dim)
        self.c_proj = TransposedLinear(dim, dim)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        return x.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)

    def forward(self, x, layer_keys=None, layer_values=None, slot=None, mask=None):
        q, k, v = map(self._split_heads, self.c_attn(x).chunk(3, dim=-1))
        if slot is None:
            if layer_keys is not None:  # prefill: keep this prompt's keys/values for later steps
                layer_keys[:, :, : k.shape[2]].copy_(k)
                layer_values[:, :, : v.shape[2]].copy_(v)
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            layer_keys.index_copy_(2, slot, k)
            layer_values.index_copy_(2, slot, v)
            out = F.scaled_dot_product_attention(q, layer_keys, layer_values, attn_mask=mask)
        batch, _, length, _ = out.shape
        return self.c_proj(out.transpose(1, 2).reshape(batch, length, -1))


class MLP(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.c_fc = TransposedLinear(dim, MLP_EXPANSION * dim)
        self.c_proj = TransposedLinear(MLP_EXPANSION * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # "gelu_new" is GELU's tanh approximation.
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, heads)
        self.ln_2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = MLP(dim)

    def forward(self, x, layer_keys=None, layer_values=None, slot=None, mask=None):
        x = x + self.attn(self.ln_1(x), layer_keys, layer_values, slot, mask)
        return x + self.mlp(self.ln_2(x))


class GPT2Stack(nn.Module):
    """GPT-2 blocks plus the final LayerNorm; inputs are embeddings (batch, length, dim)."""

    def __init__(self, layers: int, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.h = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)

    def new_cache(self, batch: int, slots: int, *, dtype=None, device=None) -> KVCache:
        weight = self.ln_f.weight
        dim = weight.shape[0]
        return KVCache.allocate(
            len(self.h), batch, self.heads, slots, dim // self.heads,
            dtype or weight.dtype, device or weight.device,
        )

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Causal pass over `x`; with `cache`, also store keys/values in its first `x.shape[1]` slots."""
        if cache is not None and x.shape[1] > cache.slots:
            raise ValueError(f"{x.shape[1]} positions do not fit a KV cache of {cache.slots} slots")
        for index, block in enumerate(self.h):
            layer = (None, None) if cache is None else (cache.keys[index], cache.values[index])
            x = block(x, *layer)
        return self.ln_f(x)

    def step(self, x: torch.Tensor, cache: KVCache, slot: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One position per row (x: batch, 1, dim) written at cache `slot`, attending through `mask`."""
        for index, block in enumerate(self.h):
            x = block(x, cache.keys[index], cache.values[index], slot, mask)
        return self.ln_f(x)
