"""CVVP (cvvp.pth): scores how well candidate speech codes match the voice of a conditioning mel.

tortoise's api.py uses it only when `cvvp_amount > 0` (default 0): each conditioning clip's mel (the
autoregressive model's 80-bin input) is scored against every candidate and the scores are averaged
over clips, then blended with CLVP's as `cvvp * amount + clvp * (1 - amount)`. The codes are the same
fixed codes CLVP sees (`clvp.prepare_codes`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from evalkit.tortoise.channel_attention import ChannelAttentionBlock
from evalkit.tortoise.rotary_encoder import RotaryEncoder

FF_MULT = 1  # CVVP's encoders use ff_mult=1


@dataclass(frozen=True)
class CVVPConfig:
    """Field names are tortoise's `CVVP(...)` arguments; `official()` is api.py's `load_cvvp` build."""

    model_dim: int = 512
    transformer_heads: int = 8
    conditioning_enc_depth: int = 8
    speech_enc_depth: int = 8
    mel_channels: int = 80
    mel_codes: int = 8192

    @classmethod
    def official(cls) -> CVVPConfig:
        return cls()

    @classmethod
    def tiny(cls) -> CVVPConfig:
        return cls(model_dim=64, transformer_heads=2, conditioning_enc_depth=2, speech_enc_depth=2)


class CollapsingTransformer(nn.Module):
    """Encoder, then conv / channel attention / conv, then the mean over time: (B, T, D) -> (B, D)."""

    def __init__(self, dim: int, heads: int, depth: int):
        super().__init__()
        self.transformer = RotaryEncoder(dim, depth, heads, FF_MULT)
        self.pre_combiner = nn.Sequential(
            nn.Conv1d(dim, dim, kernel_size=1), ChannelAttentionBlock(dim, heads), nn.Conv1d(dim, dim, kernel_size=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.transformer(x).transpose(1, 2)
        return self.pre_combiner(h).mean(dim=2)


class CodeEmbedding(nn.Module):
    """Codes (B, L) -> (B, D, L); the parameter sits at `emb.weight` in the checkpoint."""

    def __init__(self, codes: int, dim: int):
        super().__init__()
        self.emb = nn.Embedding(codes, dim)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.emb(codes).transpose(1, 2)


class CVVP(nn.Module):
    def __init__(self, config: CVVPConfig = CVVPConfig()):
        super().__init__()
        c = self.config = config
        dim = c.model_dim
        self.temperature = nn.Parameter(torch.tensor(1.0))
        self.cond_emb = nn.Sequential(  # 4x downsampling of the conditioning mel
            nn.Conv1d(c.mel_channels, dim // 2, kernel_size=5, stride=2, padding=2),
            nn.Conv1d(dim // 2, dim, kernel_size=3, stride=2, padding=1),
        )
        self.conditioning_transformer = CollapsingTransformer(dim, c.transformer_heads, c.conditioning_enc_depth)
        self.to_conditioning_latent = nn.Linear(dim, dim, bias=False)
        self.speech_emb = CodeEmbedding(c.mel_codes, dim)
        self.speech_transformer = CollapsingTransformer(dim, c.transformer_heads, c.speech_enc_depth)
        self.to_speech_latent = nn.Linear(dim, dim, bias=False)

    def forward(self, mel_cond: torch.Tensor, speech_codes: torch.Tensor) -> torch.Tensor:
        """Scores (batch,) for conditioning mels (batch, 80, frames) paired with codes (batch, L)."""
        mel_cond = mel_cond.to(self.cond_emb[0].weight.dtype)
        cond = self.conditioning_transformer(self.cond_emb(mel_cond).transpose(1, 2))
        speech = self.speech_transformer(self.speech_emb(speech_codes).transpose(1, 2))
        cond_latent = F.normalize(self.to_conditioning_latent(cond), dim=-1)
        speech_latent = F.normalize(self.to_speech_latent(speech), dim=-1)
        return (cond_latent * speech_latent).sum(dim=-1) * self.temperature.exp()
