"""`utmos`: UTMOS22 "strong" MOS prediction (Saeki et al., VoiceMOS Challenge 2022).

The strong learner of UTMOS22: wav2vec 2.0 base features (768-dim, 20 ms frames),
concatenated with a domain embedding (domain 0, the main track) and a listener
embedding (listener 288, the "mean listener" the challenge systems score with), a
bidirectional LSTM (2 x 512), a two-layer projection to one score per frame; the
clip's score is the mean over frames, mapped from [-1, 1] to the MOS scale (x 2 + 3).

wav2vec 2.0 is torchaudio's implementation (fairseq's base architecture: group-norm
feature extractor, post-LN transformer); the checkpoint uses UTMOS22's own module names
(fairseq's for wav2vec 2.0), mapped here. Verified against utmos-pytorch 0.1.0 on
identical random weights (tests/metrics/test_utmos.py). Weights: ``utmos22/strong``
through evalkit.weights (no offline provider: tests use random weights).

Audio is mixed to mono and resampled to 16 kHz with torchaudio's resampler; clips are
scored one at a time (the feature extractor's group norm spans the whole input, so
padding would change every score).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalkit.metrics.quality import QualityOptions, QualityPredictor

SAMPLE_RATE = 16_000
WEIGHTS = "utmos22/strong"
SSL_DIM = 768  # wav2vec 2.0 base
DOMAIN_DIM, N_DOMAINS, DOMAIN_ID = 128, 3, 0
JUDGE_DIM, N_JUDGES, JUDGE_ID = 128, 3000, 288
LSTM_HIDDEN = 512
PROJECTION_HIDDEN = 2048
SSL_PREFIX = "feature_extractors.0.ssl_model."
# UTMOS22 checkpoint name -> this module's name (wav2vec 2.0 keys: torchaudio's fairseq map).
HEAD_KEYS = {
    r"feature_extractors\.1\.embedding\.(.*)": r"domain_embedding.\1",
    r"output_layers\.0\.judge_embedding\.(.*)": r"judge_embedding.\1",
    r"output_layers\.0\.decoder_rnn\.(.*)": r"blstm.\1",
    r"output_layers\.1\.net\.0\.(.*)": r"projection.0.\1",
    r"output_layers\.1\.net\.3\.(.*)": r"projection.2.\1",
}


def build_model():
    """UTMOS22 strong, untrained (torch.nn.Module with a `score(wav)` of one clip)."""
    import torch
    from torch import nn
    from torchaudio.models import wav2vec2_model

    class Utmos22Strong(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ssl = wav2vec2_model(
                extractor_mode="group_norm", extractor_conv_layer_config=None, extractor_conv_bias=False,
                encoder_embed_dim=SSL_DIM, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=128,
                encoder_pos_conv_groups=16, encoder_num_layers=12, encoder_num_heads=12,
                encoder_attention_dropout=0.0, encoder_ff_interm_features=3072, encoder_ff_interm_dropout=0.0,
                encoder_dropout=0.0, encoder_layer_norm_first=False, encoder_layer_drop=0.0, aux_num_out=None,
            )
            self.domain_embedding = nn.Embedding(N_DOMAINS, DOMAIN_DIM)
            self.judge_embedding = nn.Embedding(N_JUDGES, JUDGE_DIM)
            self.blstm = nn.LSTM(SSL_DIM + DOMAIN_DIM + JUDGE_DIM, LSTM_HIDDEN, batch_first=True, bidirectional=True)
            self.projection = nn.Sequential(
                nn.Linear(2 * LSTM_HIDDEN, PROJECTION_HIDDEN), nn.ReLU(), nn.Linear(PROJECTION_HIDDEN, 1)
            )

        def frame_scores(self, wav: torch.Tensor) -> torch.Tensor:
            """(1, frames, 1) scores in [-1, 1] units of a (1, samples) 16 kHz clip."""
            features, _ = self.ssl(wav)
            frames = features.shape[1]
            domain = self.domain_embedding.weight[DOMAIN_ID].expand(1, frames, -1)
            judge = self.judge_embedding.weight[JUDGE_ID].expand(1, frames, -1)
            hidden, _ = self.blstm(torch.cat([features, domain, judge], dim=2))
            return self.projection(hidden)

        def score(self, wav: torch.Tensor) -> torch.Tensor:
            """MOS of a (1, samples) 16 kHz clip."""
            return self.frame_scores(wav).mean(dim=1).squeeze() * 2 + 3

    return Utmos22Strong()


def convert_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """A UTMOS22 (utmos-pytorch) state dict in this module's names. Keys of the
    self-supervised training (quantizer, mask embedding, final projection) are dropped."""
    from torchaudio.models.wav2vec2.utils.import_fairseq import _convert_state_dict

    ssl = {k[len(SSL_PREFIX):]: v for k, v in state.items() if k.startswith(SSL_PREFIX)}
    out = {f"ssl.{k}": v for k, v in _convert_state_dict(ssl).items()}
    for key, value in state.items():
        for pattern, target in HEAD_KEYS.items():
            if re.fullmatch(pattern, key):
                out[re.sub(pattern, target, key)] = value
    return out


def load_model(checkpoint: str, device: str):
    import torch

    model = build_model()
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(convert_state_dict(state), strict=True)
    return model.to(device).eval()


@dataclass(frozen=True)
class UtmosOptions(QualityOptions):
    model: str = WEIGHTS


class Utmos(QualityPredictor):
    name = "utmos"
    version = "1"
    description = "quality: UTMOS22 strong MOS prediction (wav2vec 2.0 + BLSTM), MOS 1-5"
    summaries = {"utmos": "utmos"}

    Options = UtmosOptions

    def model(self):
        if self._model is None:
            self._model = load_model(str(self.weights.path), self.device)
        return self._model

    def predict(self, audio: np.ndarray, sample_rate: int) -> dict[str, float]:
        import torch
        import torchaudio

        wav = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        if sample_rate != SAMPLE_RATE:
            wav = torchaudio.functional.resample(wav, sample_rate, SAMPLE_RATE)
        with torch.inference_mode():
            return {"utmos": float(self.model().score(wav[None].to(self.device)))}
