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
    assert html.count('<table class="leaderboard">') == 2 and html.count('class="run"') == 4
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


def test_provenance_says_where_each_checkpoint_came_from():
    from evalkit.report.render import _checkpoint

    sha = "ab" * 32
    assert _checkpoint({"path": "/w/ar.pth", "sha256": sha, "source": "local:/w/ar.pth"}) == f"/w/ar.pth · sha256 {sha}"
    assert _checkpoint({"path": None, "sha256": sha, "source": "random", "random": True, "init_seed": 3}) == \
        f"random weights (init seed 3) · sha256 {sha}"
