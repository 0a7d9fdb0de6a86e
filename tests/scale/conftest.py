from __future__ import annotations

import os
import sys

import pytest
from scale_helpers import AUTH_ENV, PLUGINS, LocalRayCluster

os.environ.update(AUTH_ENV)  # before ray is imported: drivers in this process and in CLI subprocesses
pytest.importorskip("ray", reason="the Ray executor tests need the ray extra (make venv-test installs it)")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """Two nodes on this machine: a head with 2 logical GPUs and 3 CPUs, a second node with
    1 GPU and 2 CPUs. Shared by the tests that connect to an existing cluster."""
    cluster = LocalRayCluster(tmp_path_factory.mktemp("ray"), [(3, 2), (2, 1)]).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def plugins(monkeypatch):
    """tests/plugins importable in this process."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    return PLUGINS


@pytest.fixture(autouse=True)
def no_ray_left_connected():
    """Every test leaves this process disconnected from Ray, even when it fails."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
