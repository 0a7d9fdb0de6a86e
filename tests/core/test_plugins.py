"""Plugins registered through entry points by an installed distribution.

The distribution is real as far as Python can tell: a package and its `.dist-info`
(METADATA, entry_points.txt, RECORD) in a site folder on the path, which is what pip
leaves behind and all importlib.metadata reads. It registers one system, one metric and
one suite; listing must not import it, running must.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from core_helpers import REPO_ROOT

PACKAGE = {
    "__init__.py": '''
import os
if os.environ.get("DEMO_IMPORT_LOG"):
    with open(os.environ["DEMO_IMPORT_LOG"], "a") as log:
        log.write(__name__ + "\\n")
''',
    "systems.py": '''
from evalkit.systems.ground_truth import GroundTruthSystem

class Echo(GroundTruthSystem):
    """Plays back each item's recording."""
    name = "demo-echo"
''',
    "metrics.py": '''
import numpy as np
from evalkit.metrics.base import Metric, summary_of_terms

class Peak(Metric):
    """Peak absolute sample value of each clip; the summary is their mean."""
    name = "demo-peak"
    version = "1"

    def score(self, batch):
        return [{"peak": float(np.max(np.abs(inp.audio)))} for inp in batch]

    def paired_terms(self, values, failed):
        return {"peak": {k: (v["peak"], 1.0) for k, v in values.items()}}

    def aggregate(self, values, failed):
        return {"peak": summary_of_terms(self.paired_terms(dict(enumerate(values)), {})["peak"], len(failed), None)}
''',
    "suites.py": '''
from pathlib import Path

DEMO = Path(__file__).parent / "data" / "demo.yaml"
''',
}
SUITE_YAML = """name: demo
version: "3"
description: Two smoke recordings, shipped by a plugin.
default_system: demo-echo
metrics: [demo-peak]
items: items.jsonl
"""
ENTRY_POINTS = """[evalkit.systems]
demo-echo = evalkit_demo.systems:Echo

[evalkit.metrics]
demo-peak = evalkit_demo.metrics:Peak

[evalkit.suites]
demo = evalkit_demo.suites:DEMO
"""


def install_distribution(site: Path, name: str, version: str, package: str, files: dict[str, str],
                         entry_points: str, summary: str) -> None:
    """Lay out `package` and its .dist-info in `site` as pip would."""
    pkg = site / package
    pkg.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n")
    (info / "entry_points.txt").write_text(entry_points)
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("".join(f"{p.relative_to(site)},,\n" for p in sorted(site.rglob("*")) if p.is_file()))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    data = site / "evalkit_demo" / "data"
    data.mkdir(parents=True)
    (data / "demo.yaml").write_text(SUITE_YAML)
    rows = []
    for item in ("smoke-01", "smoke-02"):
        shutil.copy(REPO_ROOT / "suites" / "smoke" / "audio" / f"{item}.flac", data / f"{item}.flac")
        rows.append({"id": item, "text": f"item {item}", "reference_audio": f"{item}.flac"})
    (data / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    install_distribution(site, "evalkit-demo", "0.3.0", "evalkit_demo", PACKAGE, ENTRY_POINTS,
                         "Demo plugins for evalkit")
    return site


def evalkit(site: Path, *args: str, log: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT)])}
    if log is not None:
        env["DEMO_IMPORT_LOG"] = str(log)
    res = subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"evalkit {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def test_listing_shows_plugins_with_their_origin_without_importing_them(site, tmp_path):
    log = tmp_path / "imports.txt"
    systems = json.loads(evalkit(site, "systems", "list", "--json", log=log).stdout)
    metrics = json.loads(evalkit(site, "metrics", "list", "--json", log=log).stdout)
    assert systems["demo-echo"] == {"description": "Demo plugins for evalkit", "origin": "evalkit-demo 0.3.0",
                                    "target": "evalkit_demo.systems:Echo"}
    assert metrics["demo-peak"]["origin"] == "evalkit-demo 0.3.0"
    assert systems["espeak"]["origin"] == "built-in" and metrics["wer"]["origin"] == "built-in"
    text = evalkit(site, "systems", "list", log=log).stdout
    assert any(line.split()[:3] == ["demo-echo", "evalkit-demo", "0.3.0"] for line in text.splitlines())
    assert not log.exists(), log.read_text()  # nothing of the plugin was imported to list it

    suites = {s["name"]: s for s in json.loads(evalkit(site, "suites", "list", "--json", log=log).stdout)}
    assert suites["demo"]["origin"] == "evalkit-demo 0.3.0" and suites["demo"]["version"] == "3"
    assert suites["smoke"]["origin"] == "built-in"
    assert log.read_text().split() == ["evalkit_demo"]  # finding a suite's file imports its module

    code = ("import sys; from evalkit.registry import METRICS, SYSTEMS; SYSTEMS.entries(); METRICS.entries(); "
            "from evalkit.cli import build_parser; build_parser().format_help(); "
            "print([m for m in ('torch', 'numpy', 'evalkit_demo') if m in sys.modules])")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT)])}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_a_plugin_system_metric_and_suite_run_by_name(site, tmp_path):
    out = tmp_path / "run"
    evalkit(site, "run", "--suite", "demo", "--out", str(out), "-q")
    info = json.loads((out / "run.json").read_text())
    summary = json.loads((out / "metrics.json").read_text())
    assert info["system"]["name"] == "demo-echo" and info["suite"]["name"] == "demo" and summary["complete"]
    peaks = [np.max(np.abs(sf.read(REPO_ROOT / "suites" / "smoke" / "audio" / f"{i}.flac", dtype="float32")[0]))
             for i in ("smoke-01", "smoke-02")]
    assert summary["metrics"]["peak"]["value"] == pytest.approx(np.mean(peaks), abs=1e-4)  # 16-bit FLAC round trip
    assert summary["metrics"]["peak"]["metric"] == "demo-peak"


def test_names_taken_twice_or_built_in_are_refused(site, tmp_path):
    other = tmp_path / "other-site"
    shutil.copytree(site, other)
    install_distribution(other, "evalkit-other", "1.0", "evalkit_other", {"__init__.py": ""},
                         "[evalkit.systems]\ndemo-echo = evalkit_other:Echo\nespeak = evalkit_other:Fake\n", "Other")
    listed = evalkit(other, "systems", "list", "--json")
    systems = json.loads(listed.stdout)
    assert "demo-echo" not in systems and systems["espeak"]["target"] == "evalkit.systems.espeak:EspeakSystem"
    assert "registered by evalkit-demo 0.3.0 and evalkit-other 1.0" in listed.stderr
    assert "evalkit-other 1.0 registers 'espeak', a built-in name: ignored" in listed.stderr
    res = evalkit(other, "run", "--suite", "demo", "--system", "demo-echo", "--out", str(tmp_path / "r"), check=False)
    assert res.returncode == 2 and "system 'demo-echo' cannot be used" in res.stderr
