"""EXPERIMENTAL - TorToiSe's discrete VAE encoder: speech -> the 8192 speech codes that the AR model and CLVP use.

evalkit scores audio from any TTS system with CLVP, which reads speech as these codes. TorToiSe's inference
code never runs the DVAE (the AR model emits codes directly), so tortoise-tts 3.0.0 has no DVAE class; its
weights are `dvae.pth` in the Hugging Face repo Manmay/tortoise-tts. This module re-implements the encoder
half of DL-Art-School's `DiscreteVAE` with the configuration that public sources give for that checkpoint:

* neonbjb/DL-Art-School, codes/models/audio/tts/lucidrains_dvae.py (commit 7929fd89): the architecture -
  `num_layers` stride-2 convolutions (ReLU) doubling from `hidden_dim`, `num_resnet_blocks` residual blocks
  (conv3-ReLU-conv3-ReLU-conv1), a 1x1 convolution to `codebook_dim`, then a nearest-neighbour codebook
  (`Quantize` of codes/models/vqvae/vqvae.py: buffers `embed` (dim, tokens), `cluster_size`, `embed_avg`);
  the decoder mirrors it with nearest-upsampling convolutions when `use_transposed_convs` is false.
* zarej/DL-Art-School, experiments/train_diffusion_vocoder_22k_level.yml: the `dvae` network that
  DL-Art-School's TorToiSe fine-tuning recipe loads from `../experiments/dvae.pth` with `strict_load: true`:
  channels 80, codebook_dim 512, hidden_dim 512, kernel_size 3, num_layers 2, num_resnet_blocks 3,
  num_tokens 8192, positional_dims 1, use_transposed_convs false (stride 2, ReLU, no normalisation: defaults).
* zarej/DL-Art-School, experiments/EXAMPLE_gpt.yml and codes/trainer/injectors/audio_injectors.py: the codes the
  AR model trains on are `dvae.get_codebook_indices(mel)` of the `torch_mel_spectrogram` injector's mel -
  22.05 kHz, 1024-point FFT, hop 256, 80 Slaney-normalised bins to 8 kHz, log(clamp(power, 1e-5)) divided by
  `clips_mel_norms.pth`: TorToiSe's `TorchMelSpectrogram`, i.e. `evalkit.tortoise.audio.ar_mel`.
* Corroborating, unattributed public code: a TorToiSe AR fine-tuning script that builds exactly this
  configuration (plus the defaults spelled out) and strictly loads ".models/dvae.pth" into it, feeding it
  `tortoise.api.TorchMelSpectrogram()` mels; and a stand-alone copy of the class (via mrq/ai-voice-cloning)
  whose loader defaults to `strict_load=True`. coqui-ai/TTS TTS/tts/layers/xtts/dvae.py is the same class
  (XTTS uses it with 1024 tokens) and a mel function with these parameters.

Confidence: high for the architecture and configuration (three independent configurations agree and a
strict load is reported to work), high for the mel (same parameters everywhere, and TorToiSe's AR is
conditioned on the same normalised mel); the exact `clips_mel_norms.pth` bytes are assumed to equal
TorToiSe's data/mel_norms.pth (not verified from a source). The checkpoint itself could not be inspected
(model hubs are unreachable here), so `load_dvae_state_dict` checks every key and shape of the full
checkpoint (decoder included) and fails loudly, naming the differences, if the guess is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn as nn

from evalkit.tortoise.audio import ar_mel


@dataclass(frozen=True)
class DvaeConfig:
    channels: int = 80  # mel bins in
    num_tokens: int = 8192
    codebook_dim: int = 512
    hidden_dim: int = 512
    num_layers: int = 2  # stride-2 stages: codes are 4 mel frames (1024 samples at 22.05 kHz) each
    num_resnet_blocks: int = 3
    kernel_size: int = 3

    @property
    def innermost_dim(self) -> int:
        return self.hidden_dim * 2 ** (self.num_layers - 1)


OFFICIAL_DVAE = DvaeConfig()
TINY_DVAE = DvaeConfig(num_tokens=64, codebook_dim=16, hidden_dim=8, num_resnet_blocks=1)


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(),
                                 nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(),
                                 nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class Codebook(nn.Module):
    """Nearest-neighbour vector quantiser; `cluster_size` / `embed_avg` are the training EMA state."""

    def __init__(self, dim: int, tokens: int):
        super().__init__()
        self.register_buffer("embed", torch.randn(dim, tokens))
        self.register_buffer("cluster_size", torch.zeros(tokens))
        self.register_buffer("embed_avg", self.embed.clone())

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """(..., dim) -> (...) index of the nearest code (squared distance as the reference expands it)."""
        flat = vectors.reshape(-1, vectors.shape[-1])
        distance = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed + self.embed.pow(2).sum(0, keepdim=True)
        return distance.argmin(dim=1).view(vectors.shape[:-1])


class DiscreteVAE(nn.Module):
    """Encoder + codebook of DL-Art-School's 1-D `DiscreteVAE` (the decoder is not needed for codes)."""

    def __init__(self, config: DvaeConfig = OFFICIAL_DVAE):
        super().__init__()
        self.config = config
        widths = [config.channels] + [config.hidden_dim * 2 ** i for i in range(config.num_layers)]
        pad = (config.kernel_size - 1) // 2
        stages = [nn.Sequential(nn.Conv1d(w_in, w_out, config.kernel_size, stride=2, padding=pad), nn.ReLU())
                  for w_in, w_out in zip(widths[:-1], widths[1:])]
        blocks = [ResBlock(config.innermost_dim) for _ in range(config.num_resnet_blocks)]
        self.encoder = nn.Sequential(*stages, *blocks,
                                     nn.Conv1d(config.innermost_dim, config.codebook_dim, 1))
        self.codebook = Codebook(config.codebook_dim, config.num_tokens)

    @torch.no_grad()
    def get_codebook_indices(self, mel: torch.Tensor) -> torch.Tensor:
        """AR mel (B, 80, frames) from `evalkit.tortoise.audio.ar_mel` -> codes (B, ceil(frames / 4)) long."""
        return self.codebook(self.encoder(mel).permute(0, 2, 1))

    def codes_from_audio(self, wav: torch.Tensor) -> torch.Tensor:
        """22.05 kHz float waveform ((samples,), (B, samples) or (B, 1, samples)) -> codes (B, code frames)."""
        return self.get_codebook_indices(ar_mel(wav.to(self.codebook.embed.device)))


def expected_checkpoint_shapes(config: DvaeConfig = OFFICIAL_DVAE) -> dict[str, tuple[int, ...]]:
    """Every state-dict entry of a DL-Art-School `DiscreteVAE` checkpoint of this configuration, with its shape.

    Official size: 53 entries - encoder 24 (24.25 M parameters), decoder 26 (27.3 M), codebook buffers 3.
    """
    k, inner, dim = config.kernel_size, config.innermost_dim, config.codebook_dim
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, c_in: int, c_out: int, size: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (c_out, c_in, size), (c_out,)

    def resblocks(prefix: str, first: int) -> None:
        for i in range(first, first + config.num_resnet_blocks):
            for j, size in ((0, 3), (2, 3), (4, 1)):
                conv(f"{prefix}.{i}.net.{j}", inner, inner, size)

    widths = [config.channels] + [config.hidden_dim * 2 ** i for i in range(config.num_layers)]
    for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
        conv(f"encoder.{i}.0", w_in, w_out, k)
    resblocks("encoder", config.num_layers)
    conv(f"encoder.{config.num_layers + config.num_resnet_blocks}", inner, dim, 1)
    # Decoder: 1x1 in, residual blocks, then nearest-upsample + conv stages narrowing back to hidden_dim.
    conv("decoder.0", dim, inner, 1)
    resblocks("decoder", 1)
    up_widths = [inner] + widths[:0:-1]
    first_up = 1 + config.num_resnet_blocks
    for i, (w_in, w_out) in enumerate(zip(up_widths[:-1], up_widths[1:])):
        conv(f"decoder.{first_up + i}.0.conv", w_in, w_out, k)
    conv(f"decoder.{first_up + config.num_layers}", config.hidden_dim, config.channels, 1)
    shapes["codebook.embed"] = shapes["codebook.embed_avg"] = (dim, config.num_tokens)
    shapes["codebook.cluster_size"] = (config.num_tokens,)
    return shapes


def load_dvae_state_dict(model: DiscreteVAE, state: Mapping[str, torch.Tensor], source: str = "dvae.pth") -> None:
    """Strictly check `state` against the full expected checkpoint layout, then load the encoder and codebook.

    Raises ValueError listing missing, unexpected and mis-shaped entries: the configuration above is
    established from public sources, not from the file, so a mismatch means it was guessed wrong.
    """
    expected = expected_checkpoint_shapes(model.config)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mis_shaped = sorted(f"{k}: {tuple(state[k].shape)} (expected {expected[k]})"
                        for k in set(expected) & set(state) if tuple(state[k].shape) != expected[k])
    if missing or unexpected or mis_shaped:
        problems = [f"{label}: {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}"
                    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mis_shaped))
                    if items]
        raise ValueError(f"{source} does not match the DL-Art-School DiscreteVAE layout assumed by evalkit "
                         f"(EXPERIMENTAL, see evalkit/tortoise/dvae.py): " + "; ".join(problems))
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("decoder.")}, strict=True)
