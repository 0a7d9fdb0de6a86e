"""Device names: "auto" resolved to what this machine has, and the kind of a device.

Kept apart from api.py so that the runner, which needs `device_kind`, does not import
the API that drives it.
"""
from __future__ import annotations

import re
import shutil

from evalkit.types import EvalkitError


def device_kind(device: str) -> str:
    """"cuda:1" -> "cuda": numerics (and a system's automatic precision) follow the kind
    of device, not which one of them."""
    return device.split(":", 1)[0]


def resolve_device(device: str) -> str:
    """"auto" -> "cuda" when a CUDA GPU is usable, else "cpu" (torch imported only if
    an NVIDIA driver is present)."""
    if device == "cpu":
        return device
    if device == "auto":
        if shutil.which("nvidia-smi") is None:
            return "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    check_device_name(device)
    import torch

    # Checked before anything is resolved: the protocol picks models by device (large-v3 on CUDA).
    if not torch.cuda.is_available():
        raise EvalkitError(f"--device {device}: no CUDA device is usable here (torch {torch.__version__}, "
                           "torch.cuda.is_available() is False); use --device cpu or auto")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise EvalkitError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    return device


def check_device_name(device: str) -> None:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise EvalkitError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
