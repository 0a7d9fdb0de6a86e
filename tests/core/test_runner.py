"""The runner end to end on real espeak-ng audio: resume, caches, failures, kill -9."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from core_helpers import REPO_ROOT, calls, write_suite

from evalkit.api import EvalConfig, evaluate
from evalkit.store import read_samples
from evalkit.systems.base import item_seed
from evalkit.types import EvalkitError

FAST = ("rtf", "duration")


def run(tmp_path: Path, name: str = "run", **kwargs):
    config = EvalConfig(suite=kwargs.pop("suite", "smoke"), metrics=kwargs.pop("metrics", FAST),
                        out=kwargs.pop("out", tmp_path / name), quiet=True, **kwargs)
    return evaluate(config)


def samples(run_dir: Path) -> dict[str, dict]:
    return read_samples(run_dir / "samples.jsonl")[0]


def test_smoke_run_writes_the_contract(tmp_path, espeak):
    result = run(tmp_path)
    info = json.loads((result.run_dir / "run.json").read_text())
    for key in ("schema_version", "run_id", "created", "evalkit_version", "git", "python", "packages",
                "hardware", "suite", "system", "metrics", "seed", "command", "identity"):
        assert key in info, key
    assert info["suite"]["content_hash"] and info["suite"]["n_items"] == 10
    assert info["system"]["name"] == "espeak" and "espeak-ng" in info["system"]["version"].lower()
    assert {m["name"] for m in info["metrics"]} == set(FAST)
    assert info["packages"]["numpy"] and info["hardware"]["cpu"]
    phases = info["invocations"][-1]["phases_seconds"]  # untimed steps, outside RTF
    assert {"espeak: loading on cpu", "espeak: warm-up", "rtf: loading on cpu"} <= set(phases)
    assert all(seconds >= 0 for seconds in phases.values())

    records = samples(result.run_dir)
    assert len(records) == 10
    for rec in records.values():
        audio = result.run_dir / rec["audio"]["path"]
        data, rate = sf.read(audio)
        assert rate == rec["audio"]["sample_rate"] and abs(len(data) / rate - rec["audio"]["seconds"]) < 1e-6
        assert rec["timing"]["seconds"] > 0 and rec["error"] is None
        assert rec["seed"] == item_seed(0, rec["item_id"])
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["complete"] and metrics["n_done"] == 10 and metrics["n_failed"] == 0
    rtf = metrics["metrics"]["rtf"]
    total_synth = sum(r["timing"]["seconds"] for r in records.values())
    total_audio = sum(r["audio"]["seconds"] for r in records.values())
    assert rtf["value"] == pytest.approx(total_synth / total_audio)  # corpus RTF = Σ synth / Σ audio
    assert rtf["ci95"][0] <= rtf["value"] <= rtf["ci95"][1] and rtf["higher_is_better"] is False
    assert metrics["metrics"]["duration_ratio"]["n"] == 10


def test_rerun_resumes_and_caches_serve_new_directories(tmp_path, plugin_env, espeak):
    system = "evalkit_test_plugin:CountingEspeak"
    first = run(tmp_path, "a", system=system)
    assert len(calls(plugin_env)) == 10
    before = (first.run_dir / "samples.jsonl").read_bytes()
    again = run(tmp_path, "a", system=system)  # same command: nothing to do
    assert len(calls(plugin_env)) == 10
    assert (again.run_dir / "samples.jsonl").read_bytes() == before
    other = run(tmp_path, "b", system=system)  # new directory: generation cache serves every item
    assert len(calls(plugin_env)) == 10
    a, b = samples(first.run_dir), samples(other.run_dir)
    assert {k: r["audio"]["sha256"] for k, r in a.items()} == {k: r["audio"]["sha256"] for k, r in b.items()}
    assert all(r["timing"]["from_cache"] for r in b.values())
    run(tmp_path, "c", system=system, seed=1)  # another seed is another generation
    assert len(calls(plugin_env)) == 20


def test_unseeded_sampling_is_never_served_from_cache(tmp_path, plugin_env, espeak):
    run(tmp_path, "a", system="evalkit_test_plugin:CountingEspeak", seed=None, limit=3)
    run(tmp_path, "b", system="evalkit_test_plugin:CountingEspeak", seed=None, limit=3)
    assert len(calls(plugin_env)) == 6
    run(tmp_path, "c", system="evalkit_test_plugin:UnseededEspeak", limit=3)  # non-deterministic system
    run(tmp_path, "d", system="evalkit_test_plugin:UnseededEspeak", limit=3)
    assert len(calls(plugin_env)) == 12


def test_limit_then_full_run_continues_the_same_directory(tmp_path, plugin_env, espeak):
    system = "evalkit_test_plugin:CountingEspeak"
    partial = run(tmp_path, "x", system=system, limit=3)
    assert partial.metrics["n_items"] == 3 and partial.metrics["complete"]
    full = run(tmp_path, "x", system=system)
    assert full.metrics["n_items"] == 10 and len(samples(full.run_dir)) == 10
    assert len(calls(plugin_env)) == 10


def test_default_run_directory_is_stable(tmp_path, monkeypatch, espeak):
    monkeypatch.chdir(tmp_path)
    a = evaluate(EvalConfig(metrics=FAST, limit=2, quiet=True))
    b = evaluate(EvalConfig(metrics=FAST, limit=2, quiet=True))
    assert a.run_dir == b.run_dir and a.run_dir.parts[:3] == ("runs", "smoke", "espeak")
    c = evaluate(EvalConfig(metrics=FAST, limit=2, quiet=True, seed=5))
    assert c.run_dir != a.run_dir and c.run_dir.name.startswith("seed5-")


def test_the_default_metrics_resume_too(tmp_path, espeak):
    """The suite's own metrics (wer, sim: model provenance with tuples in it) resume into their directory:
    the identity is compared as run.json stores it."""
    first = run(tmp_path, "models", metrics=None, limit=1)
    again = run(tmp_path, "models", metrics=None, limit=2)  # the same run, one more item
    assert again.run_dir == first.run_dir and len(samples(again.run_dir)) == 2
    assert [m["name"] for m in json.loads((first.run_dir / "run.json").read_text())["identity"]["metrics"]] == \
        ["wer", "sim", "rtf", "duration"]


def test_a_different_run_in_the_same_directory_is_refused(tmp_path, espeak):
    run(tmp_path, "same", limit=2)
    with pytest.raises(EvalkitError, match="holds a different run .*differs in: seed"):
        run(tmp_path, "same", limit=2, seed=9)


def test_failures_are_counted_and_the_run_goes_on(tmp_path, plugin_env, espeak):
    rows = [
        {"id": "good-1", "text": "This one works."},
        {"id": "bomb", "text": "This one will explode."},
        {"id": "good-2", "text": "So does this one."},
        {"id": "empty", "text": ""},
        {"id": "good-3", "text": "And this one too."},
    ]
    path = write_suite(tmp_path / "suite", rows)
    result = run(tmp_path, suite=str(path), system="evalkit_test_plugin:Exploding")
    records = samples(result.run_dir)
    assert len(records) == 5  # nothing silently dropped
    assert records["bomb"]["error"]["stage"] == "generate" and "boom: bomb" in records["bomb"]["error"]["message"]
    assert records["empty"]["error"]["stage"] == "load" and "text is empty" in records["empty"]["error"]["message"]
    assert all(records[k]["error"] is None for k in ("good-1", "good-2", "good-3"))
    m = result.metrics
    assert m["n_failed"] == 2 and m["failures"] == {"generate": 1, "load": 1}
    assert m["metrics"]["rtf"]["n"] == 3 and m["metrics"]["rtf"]["n_failed"] == 2


def test_retry_failed_regenerates_only_failures(tmp_path, plugin_env, monkeypatch, espeak):
    rows = [{"id": "a", "text": "Fine."}, {"id": "b", "text": "This will explode."}, {"id": "c", "text": "Fine too."}]
    path = write_suite(tmp_path / "suite", rows)
    system = "evalkit_test_plugin:Exploding"
    first = run(tmp_path, suite=str(path), system=system)
    assert first.metrics["n_failed"] == 1
    monkeypatch.setenv("EXPLODE", "0")  # the transient cause goes away
    assert run(tmp_path, suite=str(path), system=system).metrics["n_failed"] == 1  # plain resume keeps failures
    retried = run(tmp_path, suite=str(path), system=system, retry_failed=True)
    assert retried.metrics["n_failed"] == 0
    records = samples(retried.run_dir)
    assert list(records) == ["a", "c", "b"] and records["b"]["error"] is None
    assert (retried.run_dir / "samples.jsonl").read_text().count("\n") == 3


def test_audio_dir_system_scores_files_and_fails_bad_ones(tmp_path, espeak):
    from evalkit.systems.espeak import speak

    folder = tmp_path / "audio"
    folder.mkdir()
    audio, rate = speak("The quick brown fox jumps over the lazy dog.", "en-us", 150)
    stereo_44k = np.stack([audio, audio], axis=1)
    sf.write(folder / "smoke-01.wav", stereo_44k, rate)
    sf.write(folder / "smoke-02.flac", audio, rate)
    (folder / "smoke-03.wav").write_bytes(b"RIFF garbage")
    nan = audio.copy()
    nan[100:200] = np.nan
    sf.write(folder / "smoke-04.wav", nan, rate, subtype="FLOAT")
    result = run(tmp_path, system="audio-dir", system_options={"audio_dir": str(folder)}, limit=5)
    records = samples(result.run_dir)
    assert records["smoke-01"]["error"] is None and records["smoke-02"]["error"] is None
    assert "not a readable audio file" in records["smoke-03"]["error"]["message"]
    assert "NaN" in records["smoke-04"]["error"]["message"]
    assert "no audio for item 'smoke-05'" in records["smoke-05"]["error"]["message"]
    assert result.metrics["n_failed"] == 3
    assert "rtf" in records["smoke-01"]["not_applicable"]  # nothing was synthesized: RTF does not apply
    assert result.metrics["metrics"]["rtf"]["n_failed"] == 0


def test_ground_truth_system(tmp_path):
    result = run(tmp_path, system="ground-truth")
    records = samples(result.run_dir)
    assert all(r["error"] is None for r in records.values())
    assert result.metrics["metrics"]["duration_ratio"]["value"] == pytest.approx(1.0, abs=1e-3)


def _count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_kill_9_at_several_points_loses_nothing_finished(tmp_path, plugin_env, espeak):
    """Kill a real CLI run repeatedly; every restart resumes; the result equals an
    uninterrupted run, with every item exactly once and samples.jsonl always valid."""
    reference = run(tmp_path, "reference", system="evalkit.systems.espeak:EspeakSystem")
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "evalkit", "run", "--suite", "smoke", "--system",
           "evalkit.systems.espeak:EspeakSystem", "--metrics", ",".join(FAST), "--out", str(out), "-q"]
    env = {**os.environ, "SLOW_SECONDS": "0"}
    samples_path = out / "samples.jsonl"
    kills = 0
    for target_lines, extra_delay in [(0, 0.05), (2, 0.0), (4, 0.013), (6, 0.031), (8, 0.0)]:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while _count_lines(samples_path) < target_lines and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(extra_delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        records, _ = read_samples(samples_path)  # never raises: at most a torn tail
        lines = samples_path.read_bytes().split(b"\n") if samples_path.exists() else []
        ids = [json.loads(x)["item_id"] for x in lines[:-1]]
        assert len(ids) == len(set(ids)), "an item was written twice"
    assert kills >= 3
    res = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    final = samples(out)
    lines = [json.loads(x) for x in samples_path.read_text().splitlines()]
    assert len(lines) == 10 and len({x["item_id"] for x in lines}) == 10
    expected = samples(reference.run_dir)
    assert {k: r["audio"]["sha256"] for k, r in final.items()} == {k: r["audio"]["sha256"] for k, r in expected.items()}
    for rec in final.values():
        assert (out / rec["audio"]["path"]).is_file()
    assert json.loads((out / "metrics.json").read_text())["complete"]


def test_item_seeds_depend_only_on_run_seed_and_id():
    assert item_seed(0, "a") == item_seed(0, "a")
    assert len({item_seed(0, "a"), item_seed(1, "a"), item_seed(0, "b")}) == 3
    assert 0 <= item_seed(123, "x") < 2**63


def test_misspelt_options_are_refused_naming_the_known_ones(tmp_path, espeak):
    with pytest.raises(EvalkitError, match=r"system 'espeak' has no option\(s\) \['speeed'\]; known: \[.*'voice'"):
        run(tmp_path, "a", system="espeak", system_options={"speeed": 1.2}, limit=1)
    with pytest.raises(EvalkitError, match=r"metric 'duration' has no option\(s\) \['beam'\]; known: \[\]"):
        run(tmp_path, "b", metric_options={"duration": {"beam": 5}}, limit=1)


def test_an_unusable_device_is_refused_before_anything_loads(tmp_path, espeak):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(EvalkitError, match=r"--device cuda: no CUDA device is usable here"):
        run(tmp_path, "a", device="cuda", limit=1)
    with pytest.raises(EvalkitError, match=r"expected auto, cpu, cuda or cuda:N"):
        run(tmp_path, "b", device="gpu0", limit=1)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
