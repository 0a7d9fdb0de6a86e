"""Kill -9 `evalkit report` (a page, a bundle folder) and `evalkit gate` (gate.json, JUnit)
at many points: every output is always the previous complete one or the new complete
one, never a part, and no temporary is left behind (as test_runner's kill test does
for `evalkit run`)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import soundfile as sf
from report_helpers import audio_sources

REPO_ROOT = Path(__file__).resolve().parents[2]
# Where, as a fraction of an uninterrupted run's duration, the kills land: most near
# the end, where the outputs are written.
KILL_POINTS = (0.5, 0.85, 0.95, 1.0)


def evalkit(*args: str) -> list[str]:
    return [sys.executable, "-m", "evalkit", *args]


def timed_run(cmd: list[str]) -> float:
    start = time.monotonic()
    res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode in (0, 1, 2) and "Traceback" not in res.stderr, res.stderr
    return time.monotonic() - start


def kill_during(cmd: list[str], delay: float, until=None) -> bool:
    """Start `cmd`, kill -9 it after `delay` seconds (or as soon as `until()` holds);
    True if it was still running when killed."""
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + (60 if until else delay)
    while proc.poll() is None and time.monotonic() < deadline and not (until and until()):
        time.sleep(0.001)
    running = proc.poll() is None
    if running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return running


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if re.fullmatch(r"\..*\.tmp", p.name)]


def complete_page(path: Path, marker: str) -> bool:
    html = path.read_text(encoding="utf-8")
    return html.rstrip().endswith("</html>") and marker in html


def assert_bundle_complete(bundle: Path) -> None:
    """Every clip the bundle's page links is there and decodes to the end."""
    for src in audio_sources(bundle / "index.html").values():
        if not src.startswith("data:"):
            clip = bundle / unquote(src)
            assert clip.is_file(), f"{src} missing"
            audio, _ = sf.read(clip)
            assert len(audio) == sf.info(clip).frames > 0, f"{src} is not whole"


def changed(path: Path):
    """A predicate: `path` is no longer the file it is now (replaced, truncated, grown)."""
    stat = path.stat()
    return lambda: not path.exists() or (path.stat().st_ino, path.stat().st_size) != (stat.st_ino, stat.st_size)


def more_clips(folder: Path):
    """A predicate: a clip more than now has landed in `folder` (temporaries not counted)."""
    def count() -> int:
        return sum(not p.name.startswith(".") for p in folder.iterdir())

    now = count()
    return lambda: count() > now


def test_report_page_and_bundle_are_old_or_new_after_any_kill(report_runs, tmp_path):
    out = tmp_path / "out"
    page, bundle = out / "report.html", out / "bundle"
    old_runs, new_runs = [str(report_runs["espeak"])], [str(report_runs["espeak"]), str(report_runs["truncated"])]
    cases = [(["--out", str(page)], page), (["--bundle", str(bundle), "--embed-mb", "0"], bundle / "index.html")]
    kills = 0
    for flags, written in cases:
        duration = timed_run(evalkit("report", *old_runs, *flags, "-q"))
        assert complete_page(written, "espeak") and "truncated" not in written.read_text()
        # Kill the moment the page starts to change (a non-atomic write is caught
        # half-way), the moment new clips appear in the bundle, and at set times.
        triggers = [("page changes", changed(written))]
        if written.parent == bundle:
            triggers.append(("clips appear", more_clips(bundle / "audio")))
        for when in [*triggers, *KILL_POINTS]:
            before = written.read_bytes()
            if isinstance(when, tuple):
                kills += kill_during(evalkit("report", *new_runs, *flags, "-q"), 0, until=when[1])
            else:
                kills += kill_during(evalkit("report", *new_runs, *flags, "-q"), duration * when)
            assert written.read_bytes() == before or complete_page(written, "truncated"), when
            if written.parent == bundle:
                assert_bundle_complete(bundle)
            assert temporaries(out) == [], when
        timed_run(evalkit("report", *new_runs, *flags, "-q"))
        assert complete_page(written, "truncated")
    assert_bundle_complete(bundle)
    assert kills >= 6
    assert temporaries(out) == []


def test_gate_outputs_are_old_or_new_after_any_kill(report_runs, tmp_path):
    """Old: a candidate identical to the baseline (exit 0). New: the truncated audio (exit 2)."""
    out = tmp_path / "gate"
    same, worse = tmp_path / "same", tmp_path / "worse"
    shutil.copytree(report_runs["espeak"], same)
    shutil.copytree(report_runs["truncated"], worse)
    gate_json, junit = out / "gate.json", out / "gate.xml"
    flags = ["--baseline", str(report_runs["espeak"]), "--out", str(gate_json), "--junit", str(junit)]
    timed_run(evalkit("gate", "--candidate", str(same), *flags))  # warms the file caches
    duration = timed_run(evalkit("gate", "--candidate", str(same), *flags))
    assert json.loads(gate_json.read_text())["exit_code"] == 0
    kills = 0
    for when in [changed(gate_json), changed(junit), *KILL_POINTS]:
        before = gate_json.read_bytes(), junit.read_bytes()
        cmd = evalkit("gate", "--candidate", str(worse), *flags)
        kills += kill_during(cmd, 0, until=when) if callable(when) else kill_during(cmd, duration * when)
        assert gate_json.read_bytes() == before[0] or json.loads(gate_json.read_text())["exit_code"] == 2
        errors = ET.parse(junit).getroot().find("testsuite").get("errors")  # parses: never a part
        assert junit.read_bytes() == before[1] or int(errors) > 0
        assert temporaries(out) == []
    assert kills >= 3
