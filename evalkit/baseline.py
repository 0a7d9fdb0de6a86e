"""Blessed baselines: saved run snapshots that gates compare candidates against.

    baselines/<suite>/<name>.json   what a gate needs of a run (evalkit.gating.snapshot)
    baselines/<suite>/policy.yaml   the suite's gate policy (optional)

A baseline keeps summaries, per-item paired terms and the provenance that decides
comparability, not audio: a few hundred kB for 1,127 items, small enough to commit.
The folder is $EVALKIT_BASELINES, else the repository's baselines/ (in an installed wheel:
its packaged copy, which gates read but `baseline save` does not write; see evalkit.packaged).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from evalkit.gating.snapshot import Snapshot, snapshot_run
from evalkit.packaged import builtin_dir, is_packaged
from evalkit.textfile import read_text
from evalkit.types import EvalkitError

POLICY_FILE = "policy.yaml"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def baselines_root() -> Path:
    env = os.environ.get("EVALKIT_BASELINES")
    return Path(env).expanduser() if env else builtin_dir("baselines")


def default_name(snap: Snapshot) -> str:
    """`<system>` or `<system>-<preset>`: the name `baseline save` and `gate` use when
    none is given, so a suite's baselines read as its leaderboard (espeak, tortoise-fast)."""
    preset = (snap.system.get("options") or {}).get("preset")
    name = str(snap.system.get("name")) + (f"-{preset}" if preset else "")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def baseline_path(suite: str, name: str, root: Path | None = None) -> Path:
    if not NAME_PATTERN.match(name):
        raise EvalkitError(f"baseline name {name!r}: use letters, digits, '.', '_' and '-' only")
    return (root or baselines_root()) / suite / f"{name}.json"


def policy_path(suite: str, root: Path | None = None) -> Path | None:
    """The suite's policy file, if there is one."""
    path = (root or baselines_root()) / suite / POLICY_FILE
    return path if path.is_file() else None


def load_suite_policy(path: str | Path | None, suite: str, root: Path | None = None):
    """The policy at `path`, else the suite's policy.yaml, else the built-in policy."""
    from evalkit.gating.policy import Policy, load_policy

    chosen = path or policy_path(suite, root)
    return load_policy(chosen) if chosen else Policy()


def dumps(data: dict[str, Any]) -> str:
    """Compact JSON with one line per top-level key, and one line per entry of the
    mappings of records (metrics, summaries, terms), so a re-blessed baseline reads
    as a readable diff."""
    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and value and all(isinstance(v, (dict, list)) for v in value.values()):
            inner = ",\n".join(f"  {compact(k)}: {compact(v)}" for k, v in value.items())
            lines.append(f" {compact(key)}: {{\n{inner}\n }}")
        else:
            lines.append(f" {compact(key)}: {compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save_baseline(run_dir: str | Path, name: str | None = None, root: Path | None = None, force: bool = False,
                  policy: str | Path | None = None) -> Path:
    """Snapshot a finished run into baselines/<suite>/<name>.json (name: default_name).

    Only a run a gate can stand on is saved: finished, failure rate within the policy's
    limit, every required metric scored on at least min_items items (the same rule a
    gate applies to both runs; `policy` defaults to the suite's policy.yaml)."""
    from evalkit.cache import atomic_write_bytes
    from evalkit.gating.standing import required_metrics, standing_problems

    snap = snapshot_run(run_dir)
    rules = load_suite_policy(policy, snap.suite["name"], root)
    problems = list(standing_problems(snap, rules, required_metrics(snap, rules)))
    if problems:
        raise EvalkitError(f"{run_dir}: not a baseline a gate can stand on (policy {rules.source}): "
                           + "; ".join(problems) + ". Bless a finished, healthy run (docs/ci.md)")
    if root is None and is_packaged(baselines_root()):
        raise EvalkitError(f"evalkit runs from an installed wheel, whose baselines ({baselines_root()}) are read-only: "
                           "give the folder to save into (--dir, or EVALKIT_BASELINES)")
    path = baseline_path(snap.suite["name"], name or default_name(snap), root)
    if path.exists() and not force:
        raise EvalkitError(f"{path} exists; pass --force to replace it (the old one stays in git history)")
    atomic_write_bytes(path, dumps(snap.to_json()).encode())
    return path


def load_baseline(path: str | Path) -> Snapshot:
    path = Path(path)
    try:
        data = json.loads(read_text(path, label="baseline"))
    except json.JSONDecodeError as exc:
        raise EvalkitError(f"baseline {path}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    return Snapshot.from_json(data, str(path))


def resolve(ref: str, suite: str | None, root: Path | None = None) -> Snapshot:
    """A run directory, a baseline file, or a baseline name under baselines/<suite>/."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return snapshot_run(path)
    if path.is_file():
        return load_baseline(path)
    if suite and NAME_PATTERN.match(ref):
        named = baseline_path(suite, ref, root)
        if named.is_file():
            return load_baseline(named)
    known = [n for s, n, _ in list_baselines(root) if s == suite]
    raise EvalkitError(
        f"baseline {ref!r}: not a run directory, a baseline file, or a saved baseline of suite {suite!r} "
        f"(saved: {', '.join(known) or 'none'})"
    )


def list_baselines(root: Path | None = None) -> list[tuple[str, str, Path]]:
    """(suite, name, path) of every saved baseline."""
    root = root or baselines_root()
    return [(p.parent.name, p.stem, p) for p in sorted(root.glob("*/*.json"))]
