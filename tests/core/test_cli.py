"""The command line as a user runs it."""
from __future__ import annotations

import json
import subprocess
import sys

from core_helpers import REPO_ROOT, evalkit_cli


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from evalkit.cli import build_parser; build_parser().format_help(); "
            "heavy = [m for m in ('torch', 'numpy', 'whisper', 'speechbrain', 'matplotlib', 'jinja2') "
            "if m in sys.modules]; "
            "print(heavy)")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"
    assert "run" in evalkit_cli("--help").stdout


def test_list_commands_json():
    systems = json.loads(evalkit_cli("systems", "list", "--json").stdout)
    assert {"espeak", "ground-truth", "audio-dir", "tortoise"} <= set(systems)
    metrics = json.loads(evalkit_cli("metrics", "list", "--json").stdout)
    assert {"wer", "sim", "rtf", "duration", "clvp"} <= set(metrics)
    suites = json.loads(evalkit_cli("suites", "list", "--json").stdout)
    assert "smoke" in {s["name"] for s in suites}
    shown = json.loads(evalkit_cli("suites", "show", "smoke", "--json").stdout)
    assert shown["n_items"] == 10 and shown["n_with_ground_truth"] == 10 and len(shown["content_hash"]) == 64


def test_run_json_output_and_exit_codes(tmp_path, espeak):
    out = tmp_path / "r"
    res = evalkit_cli("run", "--suite", "smoke", "--metrics", "rtf,duration", "--limit", "2", "--out", str(out),
                      "--json")
    data = json.loads(res.stdout)
    assert data["run_dir"] == str(out) and data["n_done"] == 2 and "rtf" in data["metrics"]
    plain = evalkit_cli("run", "--suite", "smoke", "--metrics", "rtf,duration", "--limit", "2", "--out", str(out), "-q")
    assert "rtf" in plain.stdout and "2/2 items" in plain.stdout

    bad = evalkit_cli("run", "--seed", "abc", check=False)
    assert bad.returncode == 2 and "--seed 'abc'" in bad.stderr
    unknown = evalkit_cli("run", "--system", "nope", check=False)
    assert unknown.returncode == 2 and "unknown system 'nope'" in unknown.stderr
    option = evalkit_cli("run", "--option", "volume=11", "--limit", "1", "--out", str(tmp_path / "o"), check=False)
    assert option.returncode == 2 and "no option(s) ['volume']" in option.stderr
