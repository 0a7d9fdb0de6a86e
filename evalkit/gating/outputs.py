"""What a gate writes: a markdown table, gate.json, JUnit XML, the GitHub step summary.

gate.json (schema version 1):
    schema_version, status (pass | regression | not comparable | incomplete), exit_code,
    created, suite {name, version, content_hash}, baseline / candidate {source, run_id,
    system, checkpoints, git, machine}, policy {source, ...the policy as applied},
    problems [{kind, message}], warnings [text], results [{summary, metric, higher_is_better, n_shared,
    baseline, candidate, delta, ci95, tolerance, verdict, reason}]
"""
from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalkit.gating.decision import IMPROVED, NOT_COMPARABLE, REGRESSION, SKIPPED, GateResult, SummaryResult
from evalkit.gating.snapshot import Snapshot
from evalkit.summary import ARROW

GATE_FILE = "gate.json"
SCHEMA_VERSION = 1


def format_number(x: float | None, signed: bool = False) -> str:
    """Four significant digits (enough to see a change, short enough for a table)."""
    if x is None:
        return "n/a"
    return f"{x:+.4g}" if signed else f"{x:.4g}"


def _ci(ci) -> str:
    return "" if ci is None else f"[{format_number(ci[0], True)}, {format_number(ci[1], True)}]"


def _side(snap: Snapshot) -> dict[str, Any]:
    return {"source": snap.source, "run_id": snap.run_id, "system": snap.system.get("name"),
            "checkpoints": dict(snap.system.get("checkpoints") or {}), "git": dict(snap.git), "machine": snap.machine}


def gate_json(result: GateResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "status": result.status,
        "exit_code": result.exit_code,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "suite": {k: result.candidate.suite.get(k) for k in ("name", "version", "content_hash")},
        "baseline": _side(result.baseline),
        "candidate": _side(result.candidate),
        "policy": {"source": result.policy.source, **result.policy.to_json()},
        "problems": [{"kind": p.kind, "message": p.message} for p in result.problems],
        "warnings": list(result.warnings),
        "results": [r.to_json() for r in result.results],
    }


def _verdict_cell(r: SummaryResult) -> str:
    labels = {REGRESSION: "**REGRESSION**", IMPROVED: "improved", NOT_COMPARABLE: "**not comparable**"}
    text = labels.get(r.verdict, r.verdict)
    return f"{text} ({_md(r.reason)})" if r.reason else text


def _headline_line(result: GateResult) -> str:
    """The gate in one line: its verdict on the headline summary (metrics.json's main_metric)."""
    main = result.baseline.headline
    r = next((r for r in result.results if r.summary == main), None)
    if r is None:
        return f"headline {_md(main)}: not compared"
    return (f"headline **{_md(main)}**: {format_number(r.baseline_value)} → {format_number(r.candidate_value)} "
            f"({_verdict_cell(r)})")


# What a name (suite, system, run id, tag, path) may not do in the step summary: become
# Markdown (emphasis, links, images, code, math), HTML, a table column or a new line, or
# mention someone. CommonMark lets any ASCII punctuation be backslash-escaped; these
# are the characters that start inline markup anywhere in a line (ours never begin a
# line, so block markers like "#" and "-" are harmless). An underscore between two
# letters or digits cannot emphasise (wer_macro stays readable). GFM turns "http://",
# "mailto:" and "www." into links: with the ":" or "." escaped it does not. <, > and &
# become entities; control characters and line separators become spaces.
_MD_SPECIAL = re.compile(r"[\\`*\[\]|~!$@]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"
                         r"|:(?=/)|(?i:(?<=mailto)|(?<=xmpp)):|(?i:(?<=www))\.")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _md(text: object) -> str:
    """`text` as literal Markdown text: renders as itself and as nothing else."""
    plain = _CONTROL.sub(" ", str(text))
    escaped = _MD_SPECIAL.sub(lambda m: "\\" + m.group(), plain)
    return re.sub(r"[&<>]", lambda m: _MD_ENTITIES[m.group()], escaped)


def _xml(text: object) -> str:
    """`text` with what XML 1.0 cannot hold (controls but tab/newline, lone surrogates,
    U+FFFE/U+FFFF) replaced, so a JUnit file with any suite or run name still parses."""
    return re.sub(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", "\ufffd", str(text))


def markdown(result: GateResult) -> str:
    """The table a human reads: on stdout and in the GitHub step summary."""
    base, cand = result.baseline, result.candidate
    lines = [
        f"### evalkit gate: {result.status.upper()} (exit {result.exit_code})",
        "",
        (f"suite {_md(cand.suite.get('name'))} v{_md(cand.suite.get('version'))} · "
         f"baseline {_md(base.label)} · candidate {_md(cand.label)} · policy {_md(result.policy.source)}"),
        "",
        _headline_line(result),
        "",
    ]
    if result.problems or result.warnings:
        lines += [f"- **{p.kind}**: {_md(p.message)}" for p in result.problems]
        lines += [f"- warning: {_md(w)}" for w in result.warnings] + [""]
    if result.results:
        lines += ["| metric | baseline | candidate | Δ | 95% CI of Δ | tolerance | verdict |",
                  "|---|---:|---:|---:|---|---:|---|"]
        for r in result.results:
            p = r.paired
            cells = [
                f"{ARROW[r.higher_is_better].strip()} {_md(r.summary)}",
                format_number(r.baseline_value), format_number(r.candidate_value), format_number(p and p.delta, True),
                _ci(p and p.ci95), "" if r.allowed is None else format_number(r.allowed), _verdict_cell(r),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def junit_xml(result: GateResult) -> str:
    """One testcase per summary (failure = regression, error = not comparable, skipped
    = not gated), plus one 'run checks' testcase carrying completeness/comparability."""
    import xml.etree.ElementTree as ET

    suite_name = _xml(f"evalkit gate {result.candidate.suite.get('name')}")
    classname = _xml(f"evalkit.gate.{result.candidate.suite.get('name')}")
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite_name)
    checks = ET.SubElement(ts, "testcase", classname=classname, name="run checks", time="0")
    for p in result.problems:
        ET.SubElement(checks, "error", message=_xml(f"{p.kind}: {p.message}"), type=p.kind.replace(" ", "_"))
    if result.warnings:
        ET.SubElement(checks, "system-err").text = _xml("\n".join(result.warnings))
    for r in result.results:
        case = ET.SubElement(ts, "testcase", classname=classname, name=_xml(r.summary), time="0")
        p = r.paired
        detail = (f"baseline {format_number(r.baseline_value)} candidate {format_number(r.candidate_value)} "
                  f"delta {format_number(p and p.delta, True)} ci95 {_ci(p and p.ci95)} "
                  f"tolerance {format_number(r.allowed)}")
        if r.verdict == REGRESSION:
            ET.SubElement(case, "failure", message=_xml(f"{r.summary} regressed: {detail}"),
                          type="regression").text = detail
        elif r.verdict == NOT_COMPARABLE:
            ET.SubElement(case, "error", message=_xml(f"{r.summary}: {r.reason}"), type="not_comparable")
        elif r.verdict == SKIPPED:
            ET.SubElement(case, "skipped", message=_xml(r.reason))
        else:
            ET.SubElement(case, "system-out").text = f"{r.verdict}: {detail}"
    cases = ts.findall("testcase")
    ts.set("tests", str(len(cases)))
    ts.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    ts.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    ts.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_outputs(result: GateResult, json_path: Path, junit_path: Path | None) -> None:
    """gate.json, optional JUnit XML, and the GitHub step summary when running in Actions.

    Files are replaced atomically (a kill leaves the old file or the new one); the step
    summary, which other steps append to as well, gets the whole table in one write."""
    from evalkit.cache import atomic_write_bytes
    from evalkit.store import write_json

    write_json(json_path, gate_json(result))
    if junit_path is not None:
        atomic_write_bytes(junit_path, junit_xml(result).encode("utf-8"))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        append_once(Path(summary_file), (markdown(result) + "\n").encode("utf-8"))


def append_once(path: Path, data: bytes) -> None:
    """Append `data` with one write(2) on an O_APPEND descriptor: it lands whole after
    whatever is there (a regular file's write is not cut short by a signal)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
