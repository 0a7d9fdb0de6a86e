"""UnivNet vocoder of TorToiSe: 24 kHz UnivNet log mel (100 bins, hop 256) -> waveform.

Architecture of UnivNet-c32 (Jang et al. 2021, github.com/mindslab-ai/univnet) as shipped in tortoise-tts 3.0.0
(`tortoise/models/vocoder.py`): a noise sequence is upsampled 8x, 8x, 4x by `LVCBlock`s whose convolution
kernels are predicted, per mel frame, from the mel ("location-variable convolutions").

The official checkpoint `vocoder.pth` nests the weights under "model_g" and stores every convolution
weight-normalised (`weight_g`, `weight_v`); `convert_official_state_dict` folds those into plain weights,
which is what the reference does before inference (`eval(inference=True)`). The folded model has 88
state-dict entries and 14.8 M parameters at the official size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

# The reference appends this many frames of silence to the mel and cuts their audio off again, so the last
# real frame is not generated at the border (github.com/seungwonpark/melgan/issues/8).
PAD_FRAMES = 10
# Value of a silent UnivNet mel bin used for that padding: log(1e-5) rounded as the reference writes it.
SILENCE_LOG_MEL = -11.5129
_KPNET_HIDDEN = 64  # kernel predictor width; fixed in the reference (not a constructor argument there)
_CONV_KERNEL = 3  # location-variable convolution kernel size; fixed in the reference


@dataclass(frozen=True)
class UnivNetConfig:
    noise_dim: int = 64
    channels: int = 32
    dilations: tuple[int, ...] = (1, 3, 9, 27)
    strides: tuple[int, ...] = (8, 8, 4)  # product = mel hop length (256)
    leaky_slope: float = 0.2
    kpnet_conv_size: int = 3
    n_mels: int = 100

    @property
    def hop_length(self) -> int:
        return math.prod(self.strides)


OFFICIAL_UNIVNET = UnivNetConfig()  # tortoise api.py: `UnivNetGenerator()` with its defaults
TINY_UNIVNET = UnivNetConfig(noise_dim=8, channels=4, dilations=(1, 3))  # for tests; same hop


class KernelPredictor(nn.Module):
    """Predicts, for every mel frame, the kernels and biases of all convolution layers of one LVC block."""

    def __init__(self, n_mels: int, channels: int, layers: int, conv_size: int, slope: float):
        super().__init__()
        self.channels, self.layers = channels, layers
        pad = (conv_size - 1) // 2
        self.input_conv = nn.Sequential(nn.Conv1d(n_mels, _KPNET_HIDDEN, 5, padding=2), nn.LeakyReLU(slope))
        # Index 0 held a Dropout(p=0) in the reference; keeping the slot keeps parameter names identical.
        self.residual_convs = nn.ModuleList(
            nn.Sequential(nn.Identity(), nn.Conv1d(_KPNET_HIDDEN, _KPNET_HIDDEN, conv_size, padding=pad),
                          nn.LeakyReLU(slope), nn.Conv1d(_KPNET_HIDDEN, _KPNET_HIDDEN, conv_size, padding=pad),
                          nn.LeakyReLU(slope))
            for _ in range(3))
        # Gated units: each layer maps `channels` to 2 * `channels` (sigmoid half, tanh half).
        kernel_channels = channels * 2 * channels * _CONV_KERNEL * layers
        self.kernel_conv = nn.Conv1d(_KPNET_HIDDEN, kernel_channels, conv_size, padding=pad)
        self.bias_conv = nn.Conv1d(_KPNET_HIDDEN, 2 * channels * layers, conv_size, padding=pad)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n_mels, L) -> kernels (B, layers, C, 2C, K, L), biases (B, layers, 2C, L)."""
        batch, _, frames = mel.shape
        h = self.input_conv(mel)
        for block in self.residual_convs:
            h = h + block(h)
        kernels = self.kernel_conv(h).view(batch, self.layers, self.channels, 2 * self.channels, _CONV_KERNEL, frames)
        biases = self.bias_conv(h).view(batch, self.layers, 2 * self.channels, frames)
        return kernels, biases


def location_variable_conv(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor, hop: int) -> torch.Tensor:
    """Convolve each `hop`-sample chunk of x with its own kernel.

    x (B, C_in, L * hop), kernel (B, C_in, C_out, K, L), bias (B, C_out, L) -> (B, C_out, L * hop).
    Chunks see (K - 1) / 2 samples of their neighbours (zeros at the ends), like one long convolution.
    """
    batch, _, length = x.shape
    _, _, out_channels, kernel_size, frames = kernel.shape
    if length != frames * hop:
        raise ValueError(f"signal of {length} samples does not match {frames} kernels of hop {hop}")
    pad = (kernel_size - 1) // 2
    windows = F.pad(x, (pad, pad)).unfold(2, hop + 2 * pad, hop).unfold(3, kernel_size, 1)  # (B, C_in, L, hop, K)
    out = torch.einsum("bilsk,biokl->bols", windows, kernel) + bias[..., None]
    return out.reshape(batch, out_channels, length)


class LVCBlock(nn.Module):
    """Upsamples by `stride`, then applies gated location-variable convolutions with growing dilation."""

    def __init__(self, config: UnivNetConfig, stride: int, cond_hop: int):
        super().__init__()
        channels, slope = config.channels, config.leaky_slope
        self.cond_hop = cond_hop
        self.kernel_predictor = KernelPredictor(config.n_mels, channels, len(config.dilations),
                                                config.kpnet_conv_size, slope)
        self.convt_pre = nn.Sequential(
            nn.LeakyReLU(slope),
            nn.ConvTranspose1d(channels, channels, 2 * stride, stride=stride, padding=stride // 2 + stride % 2,
                               output_padding=stride % 2))
        self.conv_blocks = nn.ModuleList(
            nn.Sequential(nn.LeakyReLU(slope),
                          nn.Conv1d(channels, channels, _CONV_KERNEL, padding=d * (_CONV_KERNEL - 1) // 2, dilation=d),
                          nn.LeakyReLU(slope))
            for d in config.dilations)

    def forward(self, x: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = self.convt_pre(x)
        kernels, biases = self.kernel_predictor(mel)
        for i, conv in enumerate(self.conv_blocks):
            h = location_variable_conv(conv(x), kernels[:, i], biases[:, i], self.cond_hop)
            x = x + torch.sigmoid(h[:, :channels]) * torch.tanh(h[:, channels:])
        return x


class UnivNetGenerator(nn.Module):
    def __init__(self, config: UnivNetConfig = OFFICIAL_UNIVNET):
        super().__init__()
        self.config = config
        hops = [math.prod(config.strides[:i + 1]) for i in range(len(config.strides))]
        self.res_stack = nn.ModuleList(LVCBlock(config, s, h) for s, h in zip(config.strides, hops))
        self.conv_pre = nn.Conv1d(config.noise_dim, config.channels, 7, padding=3, padding_mode="reflect")
        self.conv_post = nn.Sequential(nn.LeakyReLU(config.leaky_slope),
                                       nn.Conv1d(config.channels, 1, 7, padding=3, padding_mode="reflect"), nn.Tanh())

    def forward(self, mel: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """mel (B, n_mels, L), noise (B, noise_dim, L) -> audio (B, 1, L * hop) in (-1, 1)."""
        x = self.conv_pre(noise)
        for block in self.res_stack:
            x = block(x, mel)
        return self.conv_post(x)

    @torch.no_grad()
    def inference(self, mel: torch.Tensor, generator: torch.Generator | None = None,
                  noise: torch.Tensor | None = None) -> torch.Tensor:
        """UnivNet log mel (B, 100, L) -> 24 kHz audio (B, 1, L * 256), as tortoise's `UnivNetGenerator.inference`.

        The mel gets PAD_FRAMES frames of silence appended whose audio is cut off again. The input noise
        (B, noise_dim, L + PAD_FRAMES) is drawn from `generator` (on the generator's device) unless given.
        Items of a batch share one length; vocode different lengths in separate calls.
        """
        batch, _, frames = mel.shape
        silence = torch.full((batch, self.config.n_mels, PAD_FRAMES), SILENCE_LOG_MEL, device=mel.device,
                             dtype=mel.dtype)
        mel = torch.cat([mel, silence], dim=2)
        if noise is None:
            device = generator.device if generator is not None else mel.device
            noise = torch.randn(batch, self.config.noise_dim, frames + PAD_FRAMES, generator=generator, device=device)
        audio = self.forward(mel, noise.to(mel.device, mel.dtype))
        return audio[:, :, :frames * self.config.hop_length].clamp(-1, 1)


def convert_official_state_dict(checkpoint: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """tortoise's `vocoder.pth` content ({"model_g": weight-normalised state dict, ...}) -> our state dict.

    Every `<name>.weight_g` / `<name>.weight_v` pair becomes `<name>.weight = g * v / ||v||` with the norm
    taken over all dimensions but the first, as `torch.nn.utils.remove_weight_norm` computes it.
    """
    state = checkpoint.get("model_g", checkpoint)
    if not isinstance(state, Mapping):
        raise ValueError("vocoder checkpoint: 'model_g' is not a state dict")
    folded: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            continue
        if key.endswith(".weight_v"):
            name = key[: -len(".weight_v")]
            if f"{name}.weight_g" not in state:
                raise ValueError(f"vocoder checkpoint: {key} has no matching {name}.weight_g")
            folded[f"{name}.weight"] = torch._weight_norm(value, state[f"{name}.weight_g"], 0)
        else:
            folded[key] = value
    return folded
