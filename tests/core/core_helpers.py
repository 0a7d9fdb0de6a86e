"""Helpers for the core tests (imported as `core_helpers`)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def calls(count_file: Path) -> list[str]:
    return count_file.read_text().split()


def write_suite(folder: Path, rows: list[dict], name: str = "mini", **spec) -> Path:
    """A manifest suite with the given item rows; returns the YAML path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = [f"name: {name}", f"version: \"{spec.pop('version', '1')}\"", "items: items.jsonl",
             f"default_system: {spec.pop('default_system', 'espeak')}",
             f"metrics: [{', '.join(spec.pop('metrics', ['rtf', 'duration']))}]"]
    lines += [f"{k}: {v}" for k, v in spec.items()]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def evalkit_cli(*args: str, env=None, check=True) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=REPO_ROOT, capture_output=True,
                         text=True, env=env, timeout=600)
    if check and res.returncode != 0:
        raise AssertionError(f"evalkit {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res
