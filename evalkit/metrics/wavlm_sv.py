"""The speaker-verification model of Seed-TTS-eval and F5-TTS: UniSpeech's ECAPA-TDNN on
WavLM-Large features (``wavlm_large_finetune.pth``, which users supply themselves).

The model: WavLM-Large (waveform layer-normalized first, as s3prl's upstream does for
this checkpoint); the 25 hidden states s3prl exposes (the input of each of the 24
transformer layers and the final, layer-normalized output) are mixed with softmax
weights, instance-normalized, and fed to a small ECAPA-TDNN (512 channels, Res2Net
scale 8, squeeze-excitation, attentive statistics pooling) giving a 256-dim embedding.
WavLM is torchaudio's implementation; the checkpoint's parameter names (UniSpeech's
``feature_extract.model.*`` for WavLM, ``layer1``...``linear`` for the head) are mapped
onto it. The reference scripts embed one clip at a time, and so does this module: the
head pools over every frame, so padding a batch would change the embeddings.

Every size is read from the checkpoint, so a tiny random checkpoint of the same layout
(tests) loads like the real one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

# WavLM's convolutional feature encoder: (kernel, stride) per layer, 320x downsampling.
CONV_LAYERS = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))
MAX_DISTANCE = 800  # WavLM-Large's relative-position range (not recoverable from shapes)
RES2NET_SCALE = 8
SE_BOTTLENECK = 128
ATTENTION_CHANNELS = 128
WAVLM_PREFIX = "feature_extract.model."
# Checkpoint entries that WavLM keeps for pre-training only.
UNUSED = re.compile(r"^(mask_emb|label_embs_concat|final_proj\..*|project_q\..*|quantizer\..*)$")


class CheckpointLayoutError(ValueError):
    pass


@dataclass(frozen=True)
class WavLMEcapaConfig:
    conv_channels: int
    embed_dim: int
    layers: int
    heads: int
    ff_dim: int
    pos_conv_kernel: int
    pos_conv_groups: int
    buckets: int
    channels: int
    pool_channels: int
    emb_dim: int

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> WavLMEcapaConfig:
        w = lambda k: state[WAVLM_PREFIX + k]  # noqa: E731
        layers = {
            int(m.group(1)) for k in state if (m := re.match(re.escape(WAVLM_PREFIX) + r"encoder\.layers\.(\d+)\.", k))
        }
        embed_dim = w("post_extract_proj.weight").shape[0]
        return cls(
            conv_channels=w("feature_extractor.conv_layers.0.0.weight").shape[0],
            embed_dim=embed_dim,
            layers=len(layers),
            heads=w("encoder.layers.0.self_attn.relative_attention_bias.weight").shape[1],
            ff_dim=w("encoder.layers.0.fc1.weight").shape[0],
            pos_conv_kernel=w("encoder.pos_conv.0.weight_v").shape[2],
            pos_conv_groups=embed_dim // w("encoder.pos_conv.0.weight_v").shape[1],
            buckets=w("encoder.layers.0.self_attn.relative_attention_bias.weight").shape[0],
            channels=state["layer1.conv.weight"].shape[0],
            pool_channels=state["conv.weight"].shape[0],
            emb_dim=state["linear.weight"].shape[0],
        )


def wavlm_state(state: Mapping[str, Any], layers: int) -> dict[str, Any]:
    """torchaudio WavLM parameters from UniSpeech/s3prl (microsoft WavLM.py) names."""
    import torch

    src = {k[len(WAVLM_PREFIX) :]: v for k, v in state.items() if k.startswith(WAVLM_PREFIX)}
    out: dict[str, Any] = {}
    used: set[str] = set()

    def take(name: str):
        used.add(name)
        return src[name]

    for i in range(len(CONV_LAYERS)):
        out[f"feature_extractor.conv_layers.{i}.conv.weight"] = take(f"feature_extractor.conv_layers.{i}.0.weight")
        for p in ("weight", "bias"):  # conv -> dropout -> (transpose, LayerNorm, transpose) -> GELU
            out[f"feature_extractor.conv_layers.{i}.layer_norm.{p}"] = take(
                f"feature_extractor.conv_layers.{i}.2.1.{p}"
            )
    for p in ("weight", "bias"):
        out[f"encoder.feature_projection.layer_norm.{p}"] = take(f"layer_norm.{p}")
        out[f"encoder.feature_projection.projection.{p}"] = take(f"post_extract_proj.{p}")
        out[f"encoder.transformer.layer_norm.{p}"] = take(f"encoder.layer_norm.{p}")
    conv = "encoder.transformer.pos_conv_embed.conv."
    out[conv + "bias"] = take("encoder.pos_conv.0.bias")
    out[conv + "parametrizations.weight.original0"] = take("encoder.pos_conv.0.weight_g")
    out[conv + "parametrizations.weight.original1"] = take("encoder.pos_conv.0.weight_v")
    for i in range(layers):
        s, d = f"encoder.layers.{i}.", f"encoder.transformer.layers.{i}."
        qkv = [take(f"{s}self_attn.{x}_proj.weight") for x in "qkv"]
        out[d + "attention.attention.in_proj_weight"] = torch.cat(qkv)
        out[d + "attention.attention.in_proj_bias"] = torch.cat([take(f"{s}self_attn.{x}_proj.bias") for x in "qkv"])
        if i == 0:
            out[d + "attention.rel_attn_embed.weight"] = take(s + "self_attn.relative_attention_bias.weight")
        out[d + "attention.gru_rel_pos_const"] = take(s + "self_attn.grep_a")
        renames = {
            "attention.attention.out_proj": "self_attn.out_proj",
            "attention.gru_rel_pos_linear": "self_attn.grep_linear",
            "layer_norm": "self_attn_layer_norm",
            "feed_forward.intermediate_dense": "fc1",
            "feed_forward.output_dense": "fc2",
            "final_layer_norm": "final_layer_norm",
        }
        for new, old in renames.items():
            for p in ("weight", "bias"):
                out[f"{d}{new}.{p}"] = take(f"{s}{old}.{p}")
    leftover = sorted(k for k in set(src) - used if not UNUSED.match(k))
    if leftover:
        raise CheckpointLayoutError(f"unexpected WavLM parameters in the checkpoint: {leftover[:5]}")
    return out


class WavLMEcapa:
    """Speaker embeddings from a UniSpeech WavLM + ECAPA-TDNN checkpoint."""

    def __init__(self, checkpoint: str, device: str) -> None:
        from evalkit.torchload import load_weights_only

        raw = load_weights_only(checkpoint)
        state = raw.get("model", raw)
        if not any(k.startswith(WAVLM_PREFIX) for k in state):
            raise CheckpointLayoutError(
                f"{checkpoint}: no WavLM weights ({WAVLM_PREFIX}*); expected UniSpeech's wavlm_large_finetune.pth"
            )
        self.config = WavLMEcapaConfig.from_state(state)
        self.device = device
        self.wavlm = build_wavlm(self.config)
        self.wavlm.load_state_dict(wavlm_state(state, self.config.layers))
        self.head = ecapa_head(self.config)
        head_state = {k: v for k, v in state.items() if not k.startswith("feature_extract.")}
        self.head.load_state_dict(head_state)
        self.wavlm.to(device).eval()
        self.head.to(device).eval()

    def hidden_states(self, wav):
        """s3prl's "hidden_states" of WavLM: 25 x (1, frames, embed_dim) for Large."""
        import torch.nn.functional as F

        wav = F.layer_norm(wav, wav.shape[-1:])  # s3prl: cfg.normalize is true for WavLM-Large
        features, _ = self.wavlm.feature_extractor(wav, None)
        x = self.wavlm.encoder.feature_projection(features)
        transformer = self.wavlm.encoder.transformer
        x = transformer._preprocess(x)
        states, position_bias = [x], None
        for layer in transformer.layers:
            x, position_bias = layer(x, None, position_bias=position_bias)
            states.append(x)
        # The last state is the encoder's output: normalized after the final layer
        # (torchaudio's flag is inverted: False here means "normalize at the end").
        states[-1] = x if transformer.layer_norm_first else transformer.layer_norm(x)
        return states

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        out = np.zeros((len(clips), self.config.emb_dim), dtype=np.float32)
        with torch.inference_mode():
            for i, clip in enumerate(clips):
                wav = torch.from_numpy(np.asarray(clip, dtype=np.float32))[None].to(self.device)
                out[i] = self.head(torch.stack(self.hidden_states(wav))).squeeze(0).float().cpu().numpy()
        return out


def build_wavlm(config: WavLMEcapaConfig):
    from torchaudio.models import wavlm_model

    return wavlm_model(
        extractor_mode="layer_norm",
        extractor_conv_layer_config=[(config.conv_channels, k, s) for k, s in CONV_LAYERS],
        extractor_conv_bias=False,
        encoder_embed_dim=config.embed_dim,
        encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=config.pos_conv_kernel,
        encoder_pos_conv_groups=config.pos_conv_groups,
        encoder_num_layers=config.layers,
        encoder_num_heads=config.heads,
        encoder_num_buckets=config.buckets,
        encoder_max_distance=MAX_DISTANCE,
        encoder_attention_dropout=0.0,
        encoder_ff_interm_features=config.ff_dim,
        encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.0,
        encoder_layer_norm_first=True,
        encoder_layer_drop=0.0,
        aux_num_out=None,
    )


def ecapa_head(config: WavLMEcapaConfig):
    """UniSpeech's ECAPA-TDNN head; module names follow the checkpoint's."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class ConvReluBn(nn.Module):
        def __init__(self, cin: int, cout: int, kernel: int = 1, dilation: int = 1) -> None:
            super().__init__()
            # "same" padding: (kernel - 1) * dilation / 2 frames on each side
            self.conv = nn.Conv1d(cin, cout, kernel, padding=(kernel - 1) * dilation // 2, dilation=dilation)
            self.bn = nn.BatchNorm1d(cout)

        def forward(self, x):
            return self.bn(F.relu(self.conv(x)))  # conv -> ReLU -> BN, in this order

    class Res2Conv(nn.Module):
        """Res2Net: channel groups convolved in a chain, each adding the previous output."""

        def __init__(self, channels: int, dilation: int) -> None:
            super().__init__()
            self.width = channels // RES2NET_SCALE
            pad = dilation  # kernel 3
            n = RES2NET_SCALE - 1  # the last group passes through unchanged
            self.convs = nn.ModuleList(
                nn.Conv1d(self.width, self.width, 3, padding=pad, dilation=dilation) for _ in range(n)
            )
            self.bns = nn.ModuleList(nn.BatchNorm1d(self.width) for _ in range(n))

        def forward(self, x):
            groups = torch.split(x, self.width, dim=1)
            out, y = [], None
            for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
                y = groups[i] if i == 0 else y + groups[i]
                y = bn(F.relu(conv(y)))
                out.append(y)
            return torch.cat(out + [groups[-1]], dim=1)

    class SqueezeExcite(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.linear1 = nn.Linear(channels, SE_BOTTLENECK)
            self.linear2 = nn.Linear(SE_BOTTLENECK, channels)

        def forward(self, x):
            gate = torch.sigmoid(self.linear2(F.relu(self.linear1(x.mean(dim=2)))))
            return x * gate.unsqueeze(2)

    class SERes2Block(nn.Module):
        def __init__(self, channels: int, dilation: int) -> None:
            super().__init__()
            self.Conv1dReluBn1 = ConvReluBn(channels, channels)
            self.Res2Conv1dReluBn = Res2Conv(channels, dilation)
            self.Conv1dReluBn2 = ConvReluBn(channels, channels)
            self.SE_Connect = SqueezeExcite(channels)

        def forward(self, x):
            y = self.Conv1dReluBn2(self.Res2Conv1dReluBn(self.Conv1dReluBn1(x)))
            return self.SE_Connect(y) + x

    class AttentiveStatsPool(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.linear1 = nn.Conv1d(channels, ATTENTION_CHANNELS, 1)
            self.linear2 = nn.Conv1d(ATTENTION_CHANNELS, channels, 1)

        def forward(self, x):
            alpha = torch.softmax(self.linear2(torch.tanh(self.linear1(x))), dim=2)
            mean = (alpha * x).sum(dim=2)
            var = (alpha * x * x).sum(dim=2) - mean * mean
            return torch.cat([mean, var.clamp(min=1e-9).sqrt()], dim=1)

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = config.channels
            self.feature_weight = nn.Parameter(torch.zeros(config.layers + 1))
            self.instance_norm = nn.InstanceNorm1d(config.embed_dim)
            self.layer1 = ConvReluBn(config.embed_dim, c, kernel=5)
            self.layer2 = SERes2Block(c, dilation=2)
            self.layer3 = SERes2Block(c, dilation=3)
            self.layer4 = SERes2Block(c, dilation=4)
            self.conv = nn.Conv1d(3 * c, config.pool_channels, 1)
            self.pooling = AttentiveStatsPool(config.pool_channels)
            self.bn = nn.BatchNorm1d(2 * config.pool_channels)
            self.linear = nn.Linear(2 * config.pool_channels, config.emb_dim)

        def forward(self, states):
            """states: (layers + 1, batch, frames, embed_dim) -> (batch, emb_dim)."""
            weights = torch.softmax(self.feature_weight, dim=-1).view(-1, 1, 1, 1)
            x = self.instance_norm((weights * states).sum(dim=0).transpose(1, 2) + 1e-6)
            out1 = self.layer1(x)
            out2 = self.layer2(out1)
            out3 = self.layer3(out2)
            out4 = self.layer4(out3)
            x = F.relu(self.conv(torch.cat([out2, out3, out4], dim=1)))
            return self.linear(self.bn(self.pooling(x)))

    return Head()
