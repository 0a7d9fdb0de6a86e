"""Executor throughput: the local executor against Ray with 1 and 2 synthesis workers.

The same suite (--items, at least 40, each with a speaker prompt) and the same system go
through each executor; the figure is items per second of a whole `evaluate` call with
warm workers: each executor first runs --warm-items items (starting Ray, its workers and
their models, as the first cell of a sweep would), then the timed run of every item
with an empty generation cache. The ratios are Ray 1 worker / local (the executor's
overhead; target within 15 %) and Ray N / Ray 1 (scaling; on GPUs, N workers on N GPUs
should give at least 0.85 N). Synthesis is pinned to one thread everywhere (--threads):
a Ray worker with one CPU runs one, and equal threads make the ratios about executors.

    PYTHONPATH=. python benchmarks/bench_scale.py [--device cuda] [--items 48] [--workers 1,2]

Default system: TorToiSe, tiny configuration with random weights on a CPU (real model code,
noise for audio), the official sizes with random weights on CUDA. The last line of output is
the figures as one JSON object; --out also writes them (with every run's per-worker stats).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from evalkit.api import EvalConfig, evaluate, make_executor
from evalkit.cache import atomic_write_bytes
from evalkit.provenance import REPO_ROOT, environment

SENTENCES = [
    "Please call Stella and ask her to bring these things with her from the store.",
    "The weather today is sunny with a light breeze from the west.",
    "We also need a small plastic snake and a big toy frog for the kids.",
    "Where did you leave the keys to the car?",
    "It is a beautiful day for a walk in the park.",
    "Six spoons of fresh snow peas and five thick slabs of blue cheese.",
]
PROMPT = REPO_ROOT / "suites" / "smoke" / "audio" / "prompt-m3.flac"
# About 0.6 s of synthesis per item on one core of a 2-core CPU: enough work per item that the figure
# is throughput, not per-call overhead (a TorToiSe item on a GPU takes seconds).
CPU_TORTOISE = {"size": "tiny", "random_weights": True, "preset": "ultra_fast", "max_mel_tokens": 60,
                "num_autoregressive_samples": 8, "diffusion_iterations": 16}
CUDA_TORTOISE = {"random_weights": True, "preset": "ultra_fast"}


def make_suite(folder: Path, n: int) -> Path:
    """A manifest suite of n items (numbered variants of a few sentences), one speaker prompt."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROMPT, folder / "prompt.flac")
    rows = [{"id": f"item-{i:03d}", "text": f"Number {i}. {SENTENCES[i % len(SENTENCES)]}"} for i in range(n)]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "scale.yaml").write_text(
        "name: scale-bench\nversion: '1'\nitems: items.jsonl\nprompt_audio: prompt.flac\n"
        "default_system: tortoise\nmetrics: [duration]\n")
    return folder / "scale.yaml"


def measure(label: str, executor, config: EvalConfig, scratch: Path, warm_items: int) -> dict:
    """Warm the executor on a few items, then time every item with an empty generation cache."""
    if hasattr(executor, "connect"):
        executor.connect()  # starting Ray itself is not the executor's throughput
    os.environ["EVALKIT_CACHE"] = str(scratch / label / "warm-cache")
    start = time.perf_counter()
    evaluate(dataclasses.replace(config, limit=warm_items, out=scratch / label / "warm"), executor)
    warm_seconds = time.perf_counter() - start
    os.environ["EVALKIT_CACHE"] = str(scratch / label / "cache")
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = evaluate(dataclasses.replace(config, out=scratch / label / "run"), executor)
    seconds = time.perf_counter() - start
    info = json.loads((result.run_dir / "run.json").read_text())
    # The machine's 1-minute load average around the run: on a shared machine, other processes take cores
    # that more workers would need.
    return {"executor": label, "items": result.n_items, "failed": result.n_failed, "seconds": round(seconds, 3),
            "items_per_second": round(result.n_items / seconds, 4), "warm_up_seconds": round(warm_seconds, 3),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "workers": info["invocations"][-1]["executor"].get("workers")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--warm-items", type=int, default=2)
    parser.add_argument("--workers", default="1,2", help="Ray synthesis worker counts to measure")
    parser.add_argument("--system", default="tortoise")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="system option (default: TorToiSe tiny/official with random weights)")
    parser.add_argument("--metrics", default="duration")
    parser.add_argument("--threads", type=int, default=1, help="synthesis threads (local torch; Ray: CPUs per worker)")
    parser.add_argument("--out", help="also write the figures (JSON) here, e.g. benchmarks/results/scale-cpu.json")
    args = parser.parse_args()
    if args.items < 40:
        parser.error("--items: at least 40 (fewer measure start-up more than throughput)")

    import yaml

    options = {}
    if args.system == "tortoise":
        options = dict(CUDA_TORTOISE if args.device.startswith("cuda") else CPU_TORTOISE)
    for pair in args.option:
        key, _, value = pair.partition("=")
        options[key] = yaml.safe_load(value)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    scratch = Path(tempfile.mkdtemp(prefix="evalkit-bench-scale-"))
    try:
        config = EvalConfig(suite=str(make_suite(scratch / "suite", args.items)), system=args.system,
                            system_options=options, metrics=tuple(args.metrics.split(",")), device=args.device,
                            quiet=True)
        rows = []
        with make_executor("local") as local:
            rows.append(measure("local", local, config, scratch, args.warm_items))
        for n in (int(w) for w in args.workers.split(",")):
            with make_executor("ray", workers=n, worker_cpus=args.threads) as ray:
                rows.append(measure(f"ray-{n}", ray, config, scratch, args.warm_items))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    by_name = {r["executor"]: r for r in rows}
    ratios = {"ray-1/local": by_name["ray-1"]["items_per_second"] / by_name["local"]["items_per_second"]}
    for name, row in by_name.items():
        if name.startswith("ray-") and name != "ray-1":
            ratios[f"{name}/ray-1"] = row["items_per_second"] / by_name["ray-1"]["items_per_second"]
    print(f"{args.items} items, system {args.system} {json.dumps(options)}, device {args.device}, "
          f"{args.threads} synthesis thread(s) per worker")
    for row in rows:
        print(f"  {row['executor']:>8}: {row['items_per_second']:.3f} items/s ({row['seconds']:.1f} s; "
              f"warm-up run {row['warm_up_seconds']:.1f} s; {row['failed']} failed; load average "
              f"{row['load_average'][0]:.1f} -> {row['load_average'][1]:.1f} on {os.cpu_count()} CPUs)")
    for name, value in ratios.items():
        print(f"  {name}: {value:.3f}")
    env = environment()
    figures = {"benchmark": "scale", "items": args.items, "system": args.system, "options": options,
               "device": args.device, "threads": args.threads, "metrics": args.metrics, "results": rows,
               "ratios": {k: round(v, 4) for k, v in ratios.items()}, "hardware": env["hardware"],
               "git": env["git"], "packages": {k: v for k, v in env["packages"].items() if v},
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.out:
        atomic_write_bytes(Path(args.out), (json.dumps(figures, indent=2) + "\n").encode())
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
