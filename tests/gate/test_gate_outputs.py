"""What a gate writes stays what it says: names cannot become Markdown, HTML or broken XML."""
from __future__ import annotations

import html
import json
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from gate_helpers import gate_cli

# Markdown emphasis, a link, code, math, strike-through, a mention, raw HTML, a table
# column break, a terminal escape and a new line: each would change the step summary.
PAYLOAD = "x|y <img src=x onerror=alert(1)> **b** [l](http://e.example) `c` $a$ ~~s~~ @team _e_ \x1b[31m\nz"


@pytest.fixture(scope="session")
def base(seeded_run):
    return seeded_run(1)


def hostile_copy(run, target, suffix):
    shutil.copytree(run, target)
    info = json.loads((target / "run.json").read_text())
    info["suite"]["name"] = f"suite {PAYLOAD}"
    info["system"]["name"] = f"system {PAYLOAD}"
    info["run_id"] = f"run {PAYLOAD} {suffix}"
    (target / "run.json").write_text(json.dumps(info))
    return target


def render_gfm(text: str) -> str:
    """GitHub's own Markdown renderer (cmark-gfm), raw HTML let through (the strictest view)."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)


def test_names_render_as_plain_text_in_the_step_summary_and_junit(base, tmp_path, monkeypatch):
    a = hostile_copy(base, tmp_path / "a", "A")
    b = hostile_copy(base, tmp_path / "b", "B")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = tmp_path / "gate.xml"
    code, out = gate_cli("--baseline", str(a), "--candidate", str(b), "--junit", str(junit))
    assert code == 0, out
    page = render_gfm(summary.read_text())
    for tag in ("<img", "<strong", "<em", "<a ", "<code", "<del", "<math", "<br"):
        assert tag not in page, tag
    assert "\x1b" not in page
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    assert rows and all(len(re.findall(r"<t[hd]", row)) == 7 for row in rows)
    header = html.unescape(re.sub(r"<[^>]+>", "", page.split("<table>")[0]))
    shown = PAYLOAD.replace("\x1b", " ").replace("\n", " ")
    assert f"system {shown}/run {shown} A" in header and f"suite suite {shown}" in header
    # JUnit: still well-formed XML, names kept (minus what XML cannot hold).
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("name") == f"evalkit gate suite {PAYLOAD}".replace("\x1b", "\ufffd")
