"""Test-session setup shared by every test folder.

Caches and weights go to a per-session temporary folder so tests never read or
pollute a user's caches; the model hubs are unreachable here, so hub libraries are
told to stay offline (otherwise each call spends ~20 s retrying).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

_session_dir = Path(tempfile.mkdtemp(prefix="evalkit-tests-"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("EVALKIT_CACHE", str(_session_dir / "cache"))
os.environ.setdefault("EVALKIT_WEIGHTS", str(_session_dir / "weights"))
os.environ.setdefault("EVALKIT_DATA", str(_session_dir / "data"))
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_session_dir, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Skip GPU tests without CUDA (torch imported only if some test needs the answer)."""
    if not any("gpu" in item.keywords for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real LibriSpeech-PC list, jfk.flac); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        pytest.fail("espeak-ng is required for the tests: run `make test` (installs it) or apt-get install espeak-ng")
    return path


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty EVALKIT_CACHE for tests that count cache hits."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("EVALKIT_CACHE", str(cache))
    return cache
