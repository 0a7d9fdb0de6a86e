"""Plugins are first-class: a system and a metric from a package outside evalkit (tests/plugins),
named by import path, go through run -> report -> gate, and every step rebuilds them from the
import paths run.json records."""
from __future__ import annotations

import json
import os
import re

from core_helpers import REPO_ROOT, evalkit_cli

PLUGINS = REPO_ROOT / "tests" / "plugins"
SYSTEM = "evalkit_demo_plugin.systems:SoftEspeak"
METRIC = "evalkit_demo_plugin.metrics:ActiveSpeech"


def test_plugin_system_and_metric_run_report_and_gate(tmp_path, espeak):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS), str(REPO_ROOT)]),
           "EVALKIT_CACHE": str(tmp_path / "cache")}
    runs = []
    for name in ("baseline", "candidate"):  # the candidate is an identical rerun into another directory
        out = tmp_path / name
        evalkit_cli("run", "--suite", "smoke", "--system", SYSTEM, "--option", "gain=0.4", "--metrics",
                    f"duration,{METRIC}", "--limit", "4", "--out", str(out), "-q", env=env)
        runs.append(out)
    info = json.loads((runs[0] / "run.json").read_text())
    assert info["targets"] == {"system": SYSTEM, "metrics": {"duration": "evalkit.metrics.timing:DurationSanity",
                                                             "active_speech": METRIC}}
    assert info["system"]["name"] == "soft-espeak" and info["system"]["options"]["gain"] == 0.4

    page = tmp_path / "report.html"
    evalkit_cli("report", *map(str, runs), "--out", str(page), env=env)
    html = page.read_text()
    assert "no per-item values" not in html
    records = [json.loads(line) for line in (runs[0] / "samples.jsonl").read_text().splitlines()]
    table = json.loads(re.search(r'id="data-items-run-0">(.*?)</script>', html, re.S).group(1))
    labels = [c["label"] for c in table["columns"]]
    column = labels.index("↑ active_speech")
    shown = {row[0]["id"]: row[column] for row in table["rows"]}
    stored = {r["item_id"]: r["scores"]["active_speech"]["active"] / r["scores"]["active_speech"]["frames"]
              for r in records}
    assert shown.keys() == stored.keys() and all(abs(shown[k] - stored[k]) < 1e-12 for k in stored)

    policy = tmp_path / "policy.yaml"  # the smoke suite's own policy requires wer, which these runs do not score
    policy.write_text("suite: smoke\nrequired: [duration, active_speech]\n")
    gate = evalkit_cli("gate", "--candidate", str(runs[1]), "--baseline", str(runs[0]), "--policy", str(policy),
                       "--json", env=env, check=False)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    verdicts = {r["summary"]: r["verdict"] for r in json.loads(gate.stdout)["results"]}
    assert verdicts["active_speech"] == "pass"
