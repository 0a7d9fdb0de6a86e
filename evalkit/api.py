"""Python entry points: what the command line and notebooks call.

    from evalkit.api import EvalConfig, compare, evaluate, leaderboard_df, load_run
    result = evaluate(EvalConfig(suite="smoke", system="espeak"))
    result.metrics["metrics"]["wer"]["value"]
    run = load_run(result.run_dir)                   # typed: run.samples, run.summaries["wer"].ci95
    run.samples_df(), leaderboard_df([run])          # pandas: one row per item / per run
    verdict = compare("espeak", result.run_dir)      # a saved baseline, file or run dir
    verdict.exit_code, [(r.summary, r.verdict) for r in verdict.results]
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Mapping

from evalkit.cache import content_key
from evalkit.devices import device_kind, resolve_device
from evalkit.registry import METRICS, SYSTEMS
from evalkit.types import EvalkitError, RunResult

__all__ = ["EvalConfig", "RunResult", "build_metrics", "compare", "evaluate", "leaderboard_df", "load_run",
           "make_executor", "resolve_device", "run_identity"]

DEFAULT_PROTOCOL = "evalkit"
DEFAULT_RUNS_DIR = Path("runs")


@dataclass(frozen=True)
class EvalConfig:
    """Everything that defines a run. Change with dataclasses.replace."""

    suite: str = "smoke"
    system: str | None = None  # None: the suite's default system
    system_options: Mapping[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] | None = None  # None: the suite's metrics
    metric_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    protocol: str = DEFAULT_PROTOCOL
    seed: int | None = 0  # None: unseeded sampling (never cached, always a new run)
    limit: int | None = None
    out: Path | None = None  # default: <runs_dir>/<suite>/<system>/<run_id>
    runs_dir: Path = DEFAULT_RUNS_DIR
    device: str = "auto"
    voice: str | None = None  # override every item's speaker prompt
    voice_text: str | None = None
    retry_failed: bool = False
    quiet: bool = False


def build_metrics(names: tuple[str, ...], protocol: str, device: str, overrides: Mapping[str, Mapping[str, Any]],
                  suite=None):
    """Instantiate metrics with the protocol's options, then the suite's `metric_options`
    (for the metrics this run computes), then the user's overrides."""
    from evalkit.metrics.protocols import metric_options
    from evalkit.options import resolve_options

    base = metric_options(protocol, device)
    unknown = set(overrides) - set(names)
    if unknown:
        raise EvalkitError(f"options given for metric(s) {sorted(unknown)} that this run does not compute "
                           f"({', '.join(names)})")
    from_suite = suite.spec.metric_options if suite is not None else {}
    metrics = []
    for name in names:
        cls = METRICS.get(name)
        if name in from_suite:  # the suite file's own mistakes are named as its own
            try:
                resolve_options("metric", name, cls, {**base.get(name, {}), **from_suite[name]})
            except EvalkitError as exc:
                raise EvalkitError(f"{suite.spec.path}: metric_options: {exc}") from None
        metrics.append(cls(**{**base.get(name, {}), **from_suite.get(name, {}), **overrides.get(name, {})}))
    return metrics


def run_identity(suite, system, checkpoints, metrics, seed, protocol, device) -> dict[str, Any]:
    """What makes two runs the same run: resuming requires an identical identity.

    Returned as JSON would read it back (tuples become lists), because a resumed run
    compares it with the identity stored in run.json.
    """
    identity = {
        "device": device_kind(device),
        "suite": {k: suite.describe()[k] for k in ("name", "version", "content_hash")},
        "system": system.config(),
        "checkpoints": {k: v.get("sha256") for k, v in checkpoints.items()},
        "metrics": [m.provenance() for m in metrics],
        "seed": seed,
        "protocol": protocol,
    }
    return json.loads(json.dumps(identity))


def default_run_dir(suite_name: str, system_name: str, identity: dict[str, Any], seed: int | None,
                    preset: str | None, runs_dir: Path = DEFAULT_RUNS_DIR) -> Path:
    safe_system = re.sub(r"[^A-Za-z0-9._-]+", ".", system_name)
    if seed is None:
        run_id = "unseeded-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    else:
        label = f"{preset}-seed{seed}" if preset else f"seed{seed}"
        run_id = f"{label}-{content_key(identity)[:10]}"
    return Path(runs_dir) / suite_name / safe_system / run_id


def make_executor(name: str = "local", **options: Any):
    """An executor by name: "local" (in-process) or "ray" (options: see RayOptions)."""
    if name == "local":
        if options:
            raise EvalkitError(f"the local executor takes no options (given: {sorted(options)})")
        from evalkit.runner.local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from evalkit.runner.ray_executor import RayExecutor, RayOptions

        return RayExecutor(RayOptions(**options))
    raise EvalkitError(f"unknown executor {name!r} (known: local, ray)")


def evaluate(config: EvalConfig, executor=None) -> RunResult:
    """Run (or resume) an evaluation and return where it was written and its metrics.

    `executor` decides where items are synthesized and scored: None (in-process), an
    executor from `make_executor`, or its name. It is not part of the run's identity: a
    run started by one executor resumes under another. An executor passed in stays open
    (a sweep reuses its workers); one made here is closed at the end.
    """
    if executor is None or isinstance(executor, str):
        with make_executor(executor or "local") as own:
            return evaluate(config, own)
    from evalkit.runner.driver import RunDriver
    from evalkit.suites import load_suite

    suite = load_suite(config.suite, voice=config.voice, voice_text=config.voice_text)
    system_name = config.system or suite.spec.default_system
    system = SYSTEMS.get(system_name)(**dict(config.system_options))
    device = executor.resolve_device(config.device)
    names = config.metrics or tuple(dict.fromkeys((*suite.spec.metrics, *system.extra_metrics)))
    metrics = build_metrics(names, config.protocol, device, config.metric_options, suite)
    checkpoints = system.checkpoints()
    identity = run_identity(suite, system, checkpoints, metrics, config.seed, config.protocol, device)
    run_dir = config.out or default_run_dir(
        suite.name, system_name, identity, config.seed, system.options.get("preset"), config.runs_dir
    )
    driver = RunDriver(
        suite=suite, system=system, metrics=metrics, run_dir=Path(run_dir), identity=identity,
        checkpoints=checkpoints, config=config, device=device,
    )
    return driver.run(executor)


def load_run(run_dir: str | Path):
    """A run directory as a typed evalkit.runlog.Run: provenance, samples, summaries;
    `.samples_df()` gives one row per item (pandas)."""
    from evalkit.runlog import load_run as load

    return load(run_dir)


def leaderboard_df(runs):
    """One row per run (pandas): identity, counts, every summary with its 95% CI. `runs`
    are Run objects or run directories."""
    from evalkit.runlog import leaderboard_df as frame

    return frame(runs)


def compare(baseline: str | Path | None, candidate: str | Path, policy: str | Path | None = None):
    """Judge a candidate run against a baseline exactly as `evalkit gate` does.

    `baseline` is a saved baseline name (baselines/<suite>/NAME.json), a baseline file,
    a run directory, or None for the candidate's default (<system> or <system>-<preset>);
    `policy` a policy YAML (default: the suite's policy.yaml, else the built-in policy).
    Returns a GateResult: `.exit_code` (0 pass, 1 regression, 2 not comparable or
    incomplete), `.results` per summary, `.problems`, `.warnings`.
    """
    from evalkit.baseline import default_name, load_suite_policy, resolve
    from evalkit.gating.decision import gate
    from evalkit.gating.snapshot import snapshot_run

    if not Path(candidate).is_dir():
        raise EvalkitError(f"candidate {candidate}: not a run directory")
    cand = snapshot_run(candidate)
    suite = cand.suite.get("name")
    base = resolve(str(baseline) if baseline else default_name(cand), suite)
    return gate(base, cand, load_suite_policy(policy, suite))
