"""CLVP (clvp2.pth): the contrastive text/speech-code scorer tortoise ranks its candidates with.

Text ids and speech codes are each embedded, encoded by a rotary transformer (`rotary_encoder.py`),
averaged over positions, projected and L2-normalised; the score is their cosine similarity times
exp(temperature). tortoise's api.py feeds `text.model_text_tokens` (one row per candidate) and the
candidates' codes as it has fixed them for the diffusion decoder: right-padded with the stop token to
`max_mel_tokens`, then `autoregressive.fix_autoregressive_output` (which replaces the stop tokens,
outside CLVP's 8192-code vocabulary). `prepare_codes` does both.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from evalkit.tortoise.autoregressive import fix_autoregressive_output, pad_codes
from evalkit.tortoise.rotary_encoder import RotaryEncoder

FF_MULT = 2  # CLVP's encoders use ff_mult=2


@dataclass(frozen=True)
class CLVPConfig:
    """Field names are tortoise's `CLVP(...)` arguments; `official()` is api.py's build."""

    dim_text: int = 768
    dim_speech: int = 768
    dim_latent: int = 768
    num_text_tokens: int = 256
    text_enc_depth: int = 20
    text_heads: int = 12
    num_speech_tokens: int = 8192
    speech_enc_depth: int = 20
    speech_heads: int = 12

    @classmethod
    def official(cls) -> CLVPConfig:
        return cls()

    @classmethod
    def tiny(cls) -> CLVPConfig:
        return cls(dim_text=64, dim_speech=64, dim_latent=32, text_enc_depth=2, text_heads=2,
                   speech_enc_depth=2, speech_heads=2)


class EncoderSlot(nn.Module):
    """Holds an encoder as `.transformer`, the key level of tortoise's CheckpointedXTransformerEncoder."""

    def __init__(self, encoder: RotaryEncoder):
        super().__init__()
        self.transformer = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transformer(x)


class CLVP(nn.Module):
    def __init__(self, config: CLVPConfig = CLVPConfig()):
        super().__init__()
        c = self.config = config
        self.text_emb = nn.Embedding(c.num_text_tokens, c.dim_text)
        self.to_text_latent = nn.Linear(c.dim_text, c.dim_latent, bias=False)
        self.speech_emb = nn.Embedding(c.num_speech_tokens, c.dim_speech)
        self.to_speech_latent = nn.Linear(c.dim_speech, c.dim_latent, bias=False)
        self.text_transformer = EncoderSlot(
            RotaryEncoder(c.dim_text, c.text_enc_depth, c.text_heads, FF_MULT, wrap_branches=True)
        )
        self.speech_transformer = EncoderSlot(
            RotaryEncoder(c.dim_speech, c.speech_enc_depth, c.speech_heads, FF_MULT, wrap_branches=True)
        )
        self.temperature = nn.Parameter(torch.tensor(1.0))

    def forward(self, text: torch.Tensor, speech_codes: torch.Tensor) -> torch.Tensor:
        """Scores (batch,) for text ids (batch, T) paired row by row with codes (batch, L)."""
        if int(speech_codes.max()) >= self.config.num_speech_tokens:
            raise ValueError(
                f"speech code {int(speech_codes.max())} is outside CLVP's {self.config.num_speech_tokens} codes; "
                "pass the codes through prepare_codes() first"
            )
        text_latent = self.to_text_latent(self.text_transformer(self.text_emb(text)).mean(dim=1))
        speech_latent = self.to_speech_latent(self.speech_transformer(self.speech_emb(speech_codes)).mean(dim=1))
        similarity = (F.normalize(text_latent, dim=-1) * F.normalize(speech_latent, dim=-1)).sum(dim=-1)
        return similarity * self.temperature.exp()


def prepare_codes(codes: torch.Tensor, max_mel_tokens: int, stop_token: int = 8193) -> torch.Tensor:
    """Candidates (N, L) as tortoise scores them and decodes them: padded, then fixed row by row."""
    padded = pad_codes(codes, max_mel_tokens, stop_token)
    return torch.stack([fix_autoregressive_output(row, stop_token) for row in padded])
