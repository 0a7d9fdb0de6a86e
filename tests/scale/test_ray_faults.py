"""Faults under the Ray executor: workers killed mid-run, an item that kills every worker it
touches, a model that cannot load, a driver killed or interrupted, Ray missing or unreachable."""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from scale_helpers import REPO_ROOT, comparable, comparable_metrics, evalkit_cli, free_port, plugin_env, records

from evalkit.api import EvalConfig, evaluate, make_executor
from evalkit.types import EvalkitError

pytestmark = pytest.mark.timeout(300)
FAST = ("rtf", "duration")
SLOW = "evalkit_demo_plugin.faults:SlowEspeak"
SLOW_METRIC = "evalkit_demo_plugin.faults:SlowActiveSpeech"
ACTIVE = "evalkit_demo_plugin.metrics:ActiveSpeech"
POISON = "evalkit_demo_plugin.faults:PoisonEspeak"


def evaluate_in(tmp_path: Path, name: str, monkeypatch, executor=None, **kwargs):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / name / "cache"))
    return evaluate(EvalConfig(suite="smoke", out=tmp_path / name / "run", quiet=True, device="cpu", **kwargs),
                    executor)


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def wait_for_lines(path: Path, n: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while lines(path) < n:
        assert time.monotonic() < deadline, f"{path} never reached {n} lines"
        time.sleep(0.05)


def test_killed_synthesis_and_scoring_workers_are_replaced(tmp_path, monkeypatch, ray_cluster, plugins, espeak):
    """ray.kill of a synthesis worker and of the scoring worker while items are in flight: the run
    completes with every item exactly once and nothing failed."""
    reference = evaluate_in(tmp_path, "local", monkeypatch, metrics=FAST)
    samples = tmp_path / "ray" / "run" / "samples.jsonl"
    with make_executor("ray", address=ray_cluster.address, workers=2) as executor:
        def kill_mid_run():
            import ray

            wait_for_lines(samples, 2)
            ray.kill(executor.pools["synthesis"][0].handle, no_restart=True)
            wait_for_lines(samples, 4)
            ray.kill(executor.pools["scoring"][0].handle, no_restart=True)

        killer = threading.Thread(target=kill_mid_run, daemon=True)
        killer.start()
        result = evaluate_in(tmp_path, "ray", monkeypatch, executor, system=SLOW,
                             system_options={"delay": 0.4}, metrics=(SLOW_METRIC,),
                             metric_options={SLOW_METRIC: {"delay": 0.3}})
        killer.join(timeout=60)
    got = records(result.run_dir)  # raises on an item recorded twice
    assert len(got) == 10 and result.n_failed == 0
    assert all(not r["error"] and not r["metric_errors"] and "slow_active_speech" in r["scores"] for r in got.values())
    expected = records(reference.run_dir)
    assert {k: r["audio"]["sha256"] for k, r in got.items()} == {k: r["audio"]["sha256"] for k, r in expected.items()}
    workers = json.loads((result.run_dir / "run.json").read_text())["invocations"][-1]["executor"]["workers"]
    for role in ("synthesis", "scoring"):
        assert any(not w["alive"] for w in workers if w["role"] == role), role  # the killed one
        assert any(w["replacements"] == 1 and w["alive"] for w in workers if w["role"] == role), role


def test_an_item_that_kills_every_worker_fails_alone(tmp_path, monkeypatch, ray_cluster, plugins, espeak):
    with make_executor("ray", address=ray_cluster.address, workers=2) as executor:
        result = evaluate_in(tmp_path, "poison", monkeypatch, executor, system=POISON,
                             system_options={"poison": ["smoke-03"]}, metrics=FAST, limit=6)
    got = records(result.run_dir)
    assert len(got) == 6 and result.n_failed == 1 and result.metrics["failures"] == {"generate": 1}
    error = got["smoke-03"]["error"]
    assert error["type"] == "WorkerDied" and error["stage"] == "generate"
    assert error["message"].startswith("3 attempt(s) failed")
    assert re.search(r"last: synthesis worker \d(\.\d)? on \d+\.\d+\.\d+\.\d+: ", error["message"])  # its node
    assert all(got[i]["error"] is None for i in got if i != "smoke-03")
    workers = json.loads((result.run_dir / "run.json").read_text())["invocations"][-1]["executor"]["workers"]
    assert sum(not w["alive"] for w in workers if w["role"] == "synthesis") == 3  # one death per attempt


def test_a_model_that_cannot_load_fails_the_run_before_the_first_item(tmp_path, monkeypatch, ray_cluster, plugins):
    start = time.monotonic()
    with make_executor("ray", address=ray_cluster.address, workers=2) as executor:
        with pytest.raises(EvalkitError) as error:
            evaluate_in(tmp_path, "broken", monkeypatch, executor, system="evalkit_demo_plugin.faults:BrokenEspeak",
                        metrics=FAST)
    message = str(error.value)
    assert "could not set up: RuntimeError: cannot open model file /nonexistent/broken-espeak.bin" in message
    assert "synthesis worker" in message and "Traceback" not in message and "\n" not in message
    assert lines(tmp_path / "broken" / "run" / "samples.jsonl") == 0
    assert time.monotonic() - start < 120


def test_driver_interrupted_then_killed_resumes_exactly_once(tmp_path, ray_cluster, espeak):
    """Ctrl-C stops the driver cleanly; SIGKILL at a random point loses nothing finished; the same
    command resumes each time, and the result equals an uninterrupted local run."""
    env = plugin_env({"EVALKIT_CACHE": str(tmp_path / "cache")})
    common = ["run", "--suite", "smoke", "--system", SLOW, "--metrics", ACTIVE, "--device", "cpu", "-q"]
    reference = tmp_path / "local"  # the same audio, made without the delay
    evalkit_cli(*common, "--out", str(reference), env={**env, "EVALKIT_CACHE": str(tmp_path / "local-cache")})
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "evalkit", *common, "--option", "delay=1.5", "--out", str(out),
               "--executor", "ray", "--address", ray_cluster.address, "--workers", "2"]
    samples = out / "samples.jsonl"
    rng = random.Random(os.getpid())
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            wait_for_lines(samples, lines(samples) + 1)  # items are recorded four at a time (the metric's batch)
            time.sleep(rng.uniform(0, 0.5))
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
        if sig == signal.SIGINT:
            assert proc.returncode == 130 and "rerun the same command to resume" in stderr, stderr
        records(out)  # a torn tail at most, never an item twice
        assert lines(samples) < 10
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    got, expected = records(out), records(reference)
    assert len(got) == 10
    assert {k: comparable(r) for k, r in got.items()} == {k: comparable(r) for k, r in expected.items()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert comparable_metrics(metrics) == comparable_metrics(json.loads((reference / "metrics.json").read_text()))
    invocations = json.loads((out / "run.json").read_text())["invocations"]
    assert len(invocations) == 3 and invocations[-1]["executor"]["name"] == "ray"


def test_a_run_moves_between_executors(tmp_path, monkeypatch, ray_cluster, espeak):
    """Started locally, continued on Ray, finished locally: one run directory, every item once,
    equal to a run made in one go."""
    whole = evaluate_in(tmp_path, "whole", monkeypatch, metrics=FAST)
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    config = EvalConfig(suite="smoke", out=tmp_path / "moved", quiet=True, device="cpu", metrics=FAST)
    evaluate(config.__class__(**{**config.__dict__, "limit": 3}))
    with make_executor("ray", address=ray_cluster.address, workers=2) as executor:
        evaluate(config.__class__(**{**config.__dict__, "limit": 7}), executor)
    final = evaluate(config)
    got = records(final.run_dir)
    assert len(got) == 10
    assert {k: comparable(r) for k, r in got.items()} == {k: comparable(r) for k, r in records(whole.run_dir).items()}
    executors = [i["executor"]["name"] for i in json.loads((final.run_dir / "run.json").read_text())["invocations"]]
    assert executors == ["local", "ray", "local"]


def test_ray_missing_or_unreachable_is_one_line_within_seconds(tmp_path, espeak):
    shim = tmp_path / "shim" / "ray"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    args = ["run", "--suite", "smoke", "--metrics", "rtf", "--limit", "1", "--out", str(tmp_path / "r"),
            "--executor", "ray"]
    start = time.monotonic()
    missing = evalkit_cli(*args, env=plugin_env({"PYTHONPATH": str(shim.parent)}), check=False)
    assert missing.returncode == 2 and time.monotonic() - start < 30
    assert missing.stderr.strip().splitlines() == [missing.stderr.strip()]
    assert "needs Ray" in missing.stderr and "pip install 'evalkit[ray]'" in missing.stderr

    port = free_port()
    start = time.monotonic()
    unreachable = evalkit_cli(*args, "--address", f"127.0.0.1:{port}", env=plugin_env(), check=False)
    assert unreachable.returncode == 2 and time.monotonic() - start < 30
    assert unreachable.stderr.strip().splitlines() == [unreachable.stderr.strip()]
    assert f"--address 127.0.0.1:{port}: no Ray cluster answers there" in unreachable.stderr
