"""The report file itself (no browser): escaping, the script's CSP hash, the audio budget."""
from __future__ import annotations

import base64
import hashlib
import re

from report_helpers import audio_sources, decode_source


def test_item_text_is_escaped_and_only_the_page_script_may_run(report_runs, tmp_path):
    from evalkit.report.render import write_report

    html = write_report([report_runs["espeak"]], out=tmp_path / "r.html").read_text()
    assert "<script>window.__evalkitInjected" not in html
    assert "\\u003cscript\\u003ewindow.__evalkitInjected" in html  # in the JSON data block
    # The CSP allows exactly the inline script that is on the page.
    allowed = re.search(r"script-src '(sha256-[^']+)'", html).group(1)
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    assert len(scripts) == 1
    assert allowed == "sha256-" + base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()


def test_folder_of_runs_and_the_embedding_budget(report_runs, tmp_path):
    from evalkit.cli import main

    page = tmp_path / "all.html"
    budget_mb = 0.3
    root = report_runs["espeak"].parent  # holds all four runs
    assert main(["report", str(root), "--out", str(page), "--embed-mb", str(budget_mb), "-q"]) == 0
    html = page.read_text()
    assert html.count('<table class="leaderboard headlined"') == 2 and html.count('class="run"') == 4
    sources = audio_sources(page)
    embedded = [s for s in sources.values() if s.startswith("data:")]
    linked = [s for s in sources.values() if not s.startswith("data:")]
    assert embedded and linked
    assert sum(len(s.split(",", 1)[1]) for s in embedded) <= budget_mb * 1024 * 1024
    assert all(decode_source(page, s) > 0 for s in linked)


def test_out_and_bundle_are_exclusive(report_runs, tmp_path, capsys):
    from evalkit.cli import main

    code = main(["report", str(report_runs["espeak"]), "--out", str(tmp_path / "a.html"), "--bundle", str(tmp_path)])
    assert code == 2 and "not both" in capsys.readouterr().err


def test_provenance_says_where_each_checkpoint_came_from(report_runs):
    import dataclasses

    from evalkit.report.provenance import Entry, sections
    from evalkit.report.runs import load_run_data

    run = load_run_data(report_runs["espeak"])
    sha = "ab" * 32
    checkpoints = {"autoregressive": {"path": "/w/ar.pth", "sha256": sha, "source": "local:/w/ar.pth"},
                   "diffusion": {"path": None, "sha256": sha, "source": "random", "random": True, "init_seed": 3}}
    info = {**run.info, "system": {**run.info["system"], "checkpoints": checkpoints}}
    by_title = {s.title: s for s in sections(dataclasses.replace(run, info=info))}
    assert by_title["checkpoints"].summary == f"autoregressive {sha[:12]}, diffusion {sha[:12]}"
    assert by_title["checkpoints"].entries == (
        Entry("autoregressive", "", (Entry("path", "/w/ar.pth"), Entry("sha256", sha),
                                     Entry("source", "local:/w/ar.pth"))),
        Entry("diffusion", "", (Entry("path", "null"), Entry("sha256", sha), Entry("source", "random"),
                                Entry("random", "true"), Entry("init_seed", "3"))))
    assert "checkpoints" not in by_title["system"].summary and "checkpoints" not in {
        e.key for e in by_title["system"].entries}
    assert "checkpoints" not in {s.title for s in sections(run)}  # espeak has none


def test_provenance_entries_nest_one_level_then_use_dotted_keys():
    from evalkit.report.provenance import Entry, entry

    options = {"beam_size": 5, "temperatures": [0.0, 0.2], "language": None, "fp16": False,
               "asr": {"weights": {"sha256": "ab"}, "decoding": {"patience": 1.0}},
               "cells": [{"seed": 0}, {"seed": 1}], "empty": {}}
    got = entry("options", options)
    assert got.text == "" and got.children == (
        Entry("beam_size", "5"), Entry("temperatures", "0.0, 0.2"), Entry("language", "null"),
        Entry("fp16", "false"), Entry("asr.weights.sha256", "ab"), Entry("asr.decoding.patience", "1.0"),
        Entry("cells.0.seed", "0"), Entry("cells.1.seed", "1"), Entry("empty", "{}"))
    assert entry("options", {}) == Entry("options", "{}") and entry("gpus", []) == Entry("gpus", "[]")
    assert entry("name", "<b>x</b>") == Entry("name", "<b>x</b>")  # text; the template escapes it


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval, written out (Agresti & Coull 1998, eq. 2)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return centre - half, centre + half


def test_failed_column_counts_failed_items_with_a_wilson_interval(report_runs, mini_suite, tmp_path):
    """A real run whose system failed on one item of five (its audio file is missing)."""
    import shutil

    import pytest

    from evalkit.api import EvalConfig, evaluate
    from evalkit.report.leaderboard import FAILURES, leaderboards
    from evalkit.report.runs import load_run_data

    audio = tmp_path / "audio"
    shutil.copytree(report_runs["truncated"].parent / "truncated-audio", audio)
    (audio / "smoke-02.wav").unlink()
    evaluate(EvalConfig(suite=str(mini_suite), system="audio-dir", system_options={"audio_dir": str(audio)},
                        metrics=("rtf", "duration"), out=tmp_path / "run", quiet=True))
    runs = [load_run_data(tmp_path / "run"), load_run_data(report_runs["truncated"])]
    (table,) = leaderboards(runs, ["run-0", "run-1"])
    index = [c.name for c in table.columns].index(FAILURES)
    assert table.columns[index].headline and table.columns[index].arrow == "↓"
    failing, clean = (row.cells[index] for row in table.rows)
    assert failing.value == pytest.approx(0.2) and failing.text == "20.0%"
    low, high = wilson(1, 5)
    assert failing.ci == f"[{low:.1%}, {high:.1%}]" == "[3.6%, 62.4%]"
    assert failing.detail == "1 of 5 items · generate 1"
    assert clean.value == 0 and clean.ci == f"[0.0%, {wilson(0, 5)[1]:.1%}]"


def test_the_picture_draws_each_runs_interval(report_runs):
    """The whiskers of the main metric vs SIM-o picture are the summaries' 95% intervals."""
    import numpy as np

    from evalkit.report.plots import comparison_figure
    from evalkit.report.runs import load_run_data

    runs = [load_run_data(report_runs[k]) for k in ("ground-truth", "espeak", "truncated")]
    caption, fig = comparison_figure(runs, "wer", "sim_o")
    assert caption == "runs at a glance: wer against sim_o, with 95% intervals"
    ax = fig.axes[0]
    segments = [np.asarray(seg) for coll in ax.collections for seg in coll.get_segments()]
    for run in runs[:2]:  # truncated has neither summary: not drawn
        x, y = run.summary["metrics"]["wer"]["value"], run.summary["metrics"]["sim_o"]["value"]
        wlo, whi = run.summary["metrics"]["wer"]["ci95"]
        slo, shi = run.summary["metrics"]["sim_o"]["ci95"]
        assert any(np.allclose(seg, [[wlo, y], [whi, y]]) for seg in segments), run.label
        assert any(np.allclose(seg, [[x, slo], [x, shi]]) for seg in segments), run.label
    assert len(segments) == 4
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["ground-truth · ground-truth (topline)", "espeak · espeak"]
    # Without SIM-o for two runs, the main metric alone, one line per run.
    caption, _ = comparison_figure(runs, "wer", "utmos")
    assert caption == "runs at a glance: wer with 95% intervals"
    assert comparison_figure(runs[2:], "wer", "sim_o") is None


SETUP_FAILS = '''
from evalkit.systems.espeak import EspeakSystem

class BrokenSetup(EspeakSystem):
    name = "broken-setup"

    def setup(self, device):
        raise RuntimeError("no GPU driver")
'''


def test_a_folder_with_unfinished_and_failed_runs_renders_the_rest_and_lists_them(
        report_runs, tmp_path, monkeypatch):
    """`make report` over a runs/ holding a run killed mid-way, one that failed at setup
    and a damaged one: the complete runs render, the others are listed with their state."""
    import shutil

    from evalkit.api import EvalConfig, evaluate
    from evalkit.cli import main

    runs = tmp_path / "runs"
    for name in ("espeak", "ground-truth"):
        shutil.copytree(report_runs[name], runs / name)
    interrupted = runs / "interrupted"
    shutil.copytree(report_runs["espeak"], interrupted)
    (interrupted / "metrics.json").unlink()  # killed during its first invocation
    lines = (interrupted / "samples.jsonl").read_text().splitlines(keepends=True)
    (interrupted / "samples.jsonl").write_text("".join(lines[:2]))
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "evalkit_broken_setup.py").write_text(SETUP_FAILS)
    monkeypatch.syspath_prepend(str(plugin))
    try:
        evaluate(EvalConfig(suite="smoke", system="evalkit_broken_setup:BrokenSetup", metrics=("rtf",),
                            out=runs / "setup-failed", quiet=True))
    except RuntimeError as exc:
        assert "no GPU driver" in str(exc)
    damaged = runs / "damaged"
    damaged.mkdir()
    (damaged / "run.json").write_text('{"run_id": "dam')
    page = tmp_path / "all.html"
    assert main(["report", str(runs), "--out", str(page), "-q"]) == 0
    html = page.read_text()
    assert html.count('class="run"') == 2 and "<h3>Not shown</h3>" in html
    listed = dict(re.findall(r'<li><span class="mono">([^<]+)</span>: ([^<]+)</li>', html))
    assert listed[str(interrupted)] == "no metrics.json: 2 of 5 items recorded; interrupted"
    assert listed[str(runs / "setup-failed")] == ("no metrics.json: 0 of 10 items recorded; stopped before "
                                                  "scoring any item (failed at setup, or interrupted)")
    assert listed[str(damaged)].startswith(f"{damaged / 'run.json'}: damaged")


def test_names_reach_the_figures_as_plain_text(report_runs, tmp_path):
    """A system name with "$...$" is not typeset as math (nor fails to parse as it)."""
    import json
    import shutil

    from evalkit.report.render import write_report

    run = tmp_path / "dollars"
    shutil.copytree(report_runs["espeak"], run)
    info = json.loads((run / "run.json").read_text())
    name = r"sys $\notacommand{x}$ & $x^2$"
    info["system"]["name"] = name
    (run / "run.json").write_text(json.dumps(info))
    html = write_report([run], out=tmp_path / "r.html").read_text()
    texts = [t.replace("&amp;", "&") for t in re.findall(r"<text[^>]*>(.*?)</text>", html, re.S)]
    assert any(name in t for t in texts), texts
