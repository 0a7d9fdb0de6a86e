"""A real Ray cluster on this machine for the executor tests (imported as `scale_helpers`).

Every node is a `ray start --block` process in its own session, with its own temp dir,
so that stopping the cluster ends exactly the processes it started (killing those
process groups), never another Ray on the machine as a global `ray stop` would. Ray
registers the nodes under this machine's interface address; nothing leaves the machine.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGINS = REPO_ROOT / "tests" / "plugins"
RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE_BYTES = 100 * 1024 * 1024  # Ray's floor is 75 MiB; our items are kilobytes
START_TIMEOUT = 120.0


# Ray's token authentication, with a token of this test session's own: nodes and drivers (this
# process, CLI subprocesses) find it in their environment, whatever ~/.ray/auth_token holds.
# Ray reads it once per process, so conftest.py sets it before anything imports ray.
AUTH_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plugin_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment with the demo plugins and the repository importable (CLI, Ray workers)."""
    paths = [str(PLUGINS), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "RAY_USAGE_STATS_ENABLED": "0",
            **(extra or {})}


class LocalRayCluster:
    """Nodes given as (cpus, gpus); the first is the head. GPUs are logical (no CUDA needed)."""

    def __init__(self, root: Path, nodes: list[tuple[int, int]]) -> None:
        self.root = root
        self.nodes = nodes
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.client_port = free_port()
        self.client_address = f"ray://127.0.0.1:{self.client_port}"  # Ray Client, as from outside the cluster
        self.procs: list[subprocess.Popen] = []
        # The Ray Client server waits 30 s for the process it starts per client; on a busy 2-core
        # machine that process can take longer to import Ray.
        self.env = plugin_env({"EVALKIT_CACHE": str(root / "worker-cache"), **AUTH_ENV,
                               "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "180"})

    def _start_node(self, index: int, cpus: int, gpus: int) -> None:
        head = index == 0
        args = [str(RAY), "start", "--block", "--disable-usage-stats", "--num-cpus", str(cpus), "--num-gpus", str(gpus),
                "--object-store-memory", str(OBJECT_STORE_BYTES), "--temp-dir", str(self.root / f"node{index}")]
        if head:
            args += ["--head", "--port", str(self.port), "--node-ip-address", "127.0.0.1", "--include-dashboard",
                     "false", "--dashboard-port", str(free_port()), "--ray-client-server-port", str(self.client_port)]
        else:
            args += ["--address", self.address]
        log = open(self.root / f"node{index}.log", "w")
        self.procs.append(subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def _wait_for(self, index: int, text: str) -> None:
        log = self.root / f"node{index}.log"
        deadline = time.monotonic() + START_TIMEOUT
        while text not in log.read_text():
            if self.procs[index].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Ray node {index} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def start(self) -> LocalRayCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            for index, (cpus, gpus) in enumerate(self.nodes):
                self._start_node(index, cpus, gpus)
                self._wait_for(index, "Ray runtime started")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the node's own session: its raylet, GCS, agents, workers
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
        self.procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def evalkit_cli(*args: str, env: dict[str, str], timeout: float = 300, check: bool = True):
    res = subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                         env=env, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"evalkit {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def records(run_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    out = {}
    for line in lines:
        record = json.loads(line)
        assert record["item_id"] not in out, f"{record['item_id']} recorded twice"
        out[record["item_id"]] = record
    return out


def comparable(record: dict[str, Any], timing_metrics: frozenset[str] = frozenset({"rtf"})) -> dict[str, Any]:
    """A record without what depends on the clock or the machine: timings, when it finished,
    the values of timing metrics, the machine a cached generation was made on."""
    out = {k: v for k, v in record.items() if k not in ("timing", "finished")}
    out["system_extras"] = {k: v for k, v in record["system_extras"].items() if k != "cache_hardware"}
    out["scores"] = {k: v for k, v in record["scores"].items() if k not in timing_metrics}
    return out


def comparable_metrics(summary: dict[str, Any], timing_metrics: frozenset[str] = frozenset({"rtf"})) -> dict[str, Any]:
    out = {k: v for k, v in summary.items() if k != "run_id"}
    out["metrics"] = {k: v for k, v in summary["metrics"].items() if v.get("metric") not in timing_metrics}
    return out
