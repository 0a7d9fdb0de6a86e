"""Where a number came from: code version, packages, hardware.

Everything here is cheap and import-light (no torch import unless torch is already
loaded); run.json records the result so any figure can be traced and reproduced.
"""
from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from evalkit.packaged import REPO_ROOT, checkout_root

# Packages whose versions change numbers; recorded in every run.json.
KEY_PACKAGES = (
    "evalkit", "torch", "torchaudio", "numpy", "scipy", "soundfile", "openai-whisper",
    "faster-whisper", "ctranslate2", "speechbrain", "jiwer", "tokenizers", "ray",
)


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def git_info() -> dict[str, Any]:
    """{"sha": ..., "dirty": bool} of the evalkit checkout (None outside a checkout: an
    installed wheel's folder may lie inside some other repository)."""
    sha = _git("rev-parse", "HEAD") if checkout_root() is not None else None
    if sha is None:
        return {"sha": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"sha": sha, "dirty": bool(status)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[dict[str, str]]:
    """GPU name/driver/memory via nvidia-smi (empty list without NVIDIA GPUs)."""
    try:
        res = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if res.returncode != 0:
        return []
    gpus = []
    for line in res.stdout.strip().splitlines():
        name, driver, memory = (p.strip() for p in line.split(",", 2))
        gpus.append({"name": name, "driver": driver, "memory": memory})
    return gpus


@lru_cache(maxsize=1)
def hardware() -> dict[str, Any]:
    gpus = _gpus()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": gpus[0]["name"] if gpus else None,
        "gpu_driver": gpus[0]["driver"] if gpus else None,
        "gpu_count": len(gpus),
        "gpus": gpus,
    }


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "git": git_info(),
        "hardware": hardware(),
        "command": shlex.join(sys.argv),
    }
