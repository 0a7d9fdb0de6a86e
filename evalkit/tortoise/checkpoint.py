"""Loading TorToiSe checkpoints into evalkit's modules: weights only, every key accounted for.

`load_weights(module, path)` reads the file with `torch.load(map_location="cpu", weights_only=True)`
(no pickled code runs), checks keys and shapes against the module, and loads with `strict=True`. It
fails with the missing, unexpected and mis-shaped keys listed, except for one documented set of
legacy entries it drops (`LEGACY_GPT2_BUFFERS`).

Official files (the names tortoise's api.py downloads) and where their weights sit:

    autoregressive.pth     UnifiedVoice            (contains the legacy GPT-2 buffers)
    clvp2.pth              CLVP
    cvvp.pth               CVVP
    diffusion_decoder.pth  the diffusion decoder
    vocoder.pth            UnivNet, under the key "model_g" (use subkey=VOCODER_SUBKEY)
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import torch

from evalkit.torchload import load_weights_only
from evalkit.tortoise.weights import FILES
from evalkit.types import EvalkitError

# The five pipeline components' files (the discrete VAE, dvae.pth, is not part of the pipeline).
COMPONENT_FILES = {component: file for component, file in FILES.items() if component != "dvae"}
VOCODER_SUBKEY = "model_g"

# The transformers releases of the official checkpoint's time stored GPT-2's causal mask (`attn.bias`, a boolean
# lower triangle of shape (1, 1, n_positions, n_positions)) and its fill value (`attn.masked_bias`, -1e4) as persistent
# buffers, so the official autoregressive.pth carries both for each of its 30 layers; later releases
# (4.31, which tortoise-tts pins, and on) no longer have them, which is why tortoise loads that file with
# strict=False. They are constants that any GPT-2 rebuilds, nothing learned, and
# evalkit's attention needs neither. These keys, and only these, are dropped when the module lacks them.
LEGACY_GPT2_BUFFERS = re.compile(r"gpt\.h\.\d+\.attn\.(bias|masked_bias)")

_LISTED_KEYS = 20  # keys shown per category in an error message


class CheckpointError(EvalkitError):
    """A checkpoint file that cannot be read or does not match the module it is loaded into."""


def read_state_dict(path: str | Path, subkey: str | None = None) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    content = load_weights_only(path, CheckpointError)
    if subkey is not None:
        if not isinstance(content, Mapping) or subkey not in content:
            available = sorted(content) if isinstance(content, Mapping) else type(content).__name__
            raise CheckpointError(f"{path}: no entry {subkey!r} (found: {available})")
        content = content[subkey]
    if not isinstance(content, Mapping) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise CheckpointError(f"{path}: expected a mapping of parameter names to tensors")
    return dict(content)


def _listed(keys) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:_LISTED_KEYS])
    return shown + (f", ... ({len(keys) - _LISTED_KEYS} more)" if len(keys) > _LISTED_KEYS else "")


def load_weights(
    module: torch.nn.Module,
    source: str | Path | Mapping[str, torch.Tensor],
    *,
    subkey: str | None = None,
) -> list[str]:
    """Load a checkpoint file (or a state dict) into `module`, strictly. Returns the dropped legacy keys."""
    name = str(source) if isinstance(source, (str, Path)) else "state dict"
    state = read_state_dict(source, subkey) if isinstance(source, (str, Path)) else dict(source)
    expected = module.state_dict()
    dropped = sorted(k for k in state if k not in expected and LEGACY_GPT2_BUFFERS.fullmatch(k))
    for key in dropped:
        del state[key]
    missing = expected.keys() - state.keys()
    unexpected = state.keys() - expected.keys()
    misshaped = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in sorted(state.keys() & expected.keys())
        if state[k].shape != expected[k].shape
    ]
    if missing or unexpected or misshaped:
        problems = [
            f"missing keys ({len(missing)}): {_listed(missing)}" if missing else "",
            f"unexpected keys ({len(unexpected)}): {_listed(unexpected)}" if unexpected else "",
            f"shape mismatches ({len(misshaped)}): {', '.join(misshaped[:_LISTED_KEYS])}" if misshaped else "",
        ]
        raise CheckpointError(
            f"{name} does not match {type(module).__name__}: " + "; ".join(p for p in problems if p)
        )
    module.load_state_dict(state, strict=True)
    return dropped
