"""The Ray executor on a real Ray cluster of two nodes on this machine (logical GPUs, CPU work)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from scale_helpers import comparable, comparable_metrics, records

from evalkit.api import EvalConfig, evaluate, make_executor

FAST = ("rtf", "duration")
pytestmark = pytest.mark.timeout(300)


def run(tmp_path: Path, name: str, monkeypatch, executor=None, **kwargs):
    """One run into tmp_path/name with its own empty caches: nothing is served from another run."""
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / name / "cache"))
    config = EvalConfig(suite=kwargs.pop("suite", "smoke"), out=tmp_path / name / "run", quiet=True,
                        device=kwargs.pop("device", "cpu"), **kwargs)
    return evaluate(config, executor)


def executor_info(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())["invocations"][-1]["executor"]


@pytest.fixture
def one_thread(monkeypatch):
    """Float results depend on the thread count of a CPU's kernels (a property of the machine, as
    the GPU model is); a Ray worker with one CPU runs one thread, so the local run does too."""
    import torch

    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # CTranslate2 (faster-whisper) reads it when a model loads
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_two_workers_on_two_nodes_give_the_local_executors_records(tmp_path, monkeypatch, ray_cluster, espeak,
                                                                   one_thread):
    """The smoke suite with its own metrics (Whisper WER, ECAPA SIM, RTF, duration): the records and
    metrics.json equal the local executor's, timings aside; the run used both nodes."""
    local = run(tmp_path, "local", monkeypatch)
    with make_executor("ray", address=ray_cluster.address, workers=2) as executor:
        distributed = run(tmp_path, "ray", monkeypatch, executor)
    assert distributed.run_dir.name == local.run_dir.name == "run"
    a, b = records(local.run_dir), records(distributed.run_dir)
    assert set(a) == set(b) and len(a) == 10
    for item_id in a:
        assert comparable(a[item_id]) == comparable(b[item_id]), item_id
    assert all(r["scores"]["wer"]["transcript"] for r in b.values())  # the real models scored them
    assert comparable_metrics(local.metrics) == comparable_metrics(distributed.metrics)
    info_a = json.loads((local.run_dir / "run.json").read_text())
    info_b = json.loads((distributed.run_dir / "run.json").read_text())
    assert info_a["identity"] == info_b["identity"] and info_a["targets"] == info_b["targets"]

    workers = executor_info(distributed.run_dir)["workers"]
    synthesis = [w for w in workers if w["role"] == "synthesis"]
    assert len(synthesis) == 2 and len({w["node_id"] for w in synthesis}) == 2  # one per node
    assert sum(w["items"] for w in synthesis) == 10
    assert [w["items"] for w in workers if w["role"] == "scoring"] == [10]
    assert executor_info(local.run_dir) == {"name": "local"}


def test_logical_gpus_give_each_worker_its_own_device(tmp_path, monkeypatch, ray_cluster, espeak):
    """Three synthesis workers on 2 + 1 logical GPUs: Ray gives the two on the head node distinct
    CUDA_VISIBLE_DEVICES; the work itself runs on the CPU (--device cpu), never touching CUDA."""
    with make_executor("ray", address=ray_cluster.address, workers=3) as executor:
        result = run(tmp_path, "gpus", monkeypatch, executor, metrics=FAST, limit=6)
    assert result.n_failed == 0
    workers = [w for w in executor_info(result.run_dir)["workers"] if w["role"] == "synthesis"]
    by_node: dict[str, list[str]] = {}
    for w in workers:
        by_node.setdefault(w["node_id"], []).append(w["cuda_visible_devices"])
    assert sorted(len(v) for v in by_node.values()) == [1, 2]
    head_devices = next(v for v in by_node.values() if len(v) == 2)
    assert sorted(head_devices) == ["0", "1"]
    assert json.loads((result.run_dir / "run.json").read_text())["device"] == "cpu"


def test_a_ray_client_address_reaches_the_cluster_from_outside(tmp_path, monkeypatch, ray_cluster, espeak):
    """--address ray://HOST:PORT (Ray Client): the same run, driven from outside the cluster."""
    local = run(tmp_path, "local", monkeypatch, metrics=FAST, limit=3)
    with make_executor("ray", address=ray_cluster.client_address, workers=1) as executor:
        remote = run(tmp_path, "client", monkeypatch, executor, metrics=FAST, limit=3)
    a, b = records(local.run_dir), records(remote.run_dir)
    assert len(b) == 3 and {k: comparable(r) for k, r in a.items()} == {k: comparable(r) for k, r in b.items()}
    assert executor_info(remote.run_dir)["address"] == ray_cluster.client_address
