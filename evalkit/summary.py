"""Plain-text summary of a run's metrics.json (what `evalkit run` prints)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

ARROW = {True: "↑", False: "↓", None: " "}


def format_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"


def headline(metrics: dict[str, Any], suite_main: str | None) -> str | None:
    """The summary a run leads with: one number per protocol, named the same way in
    metrics.json (`main_metric`), this table, reports and gates.

    A suite names a summary (e.g. "wer"); the protocol may flag another summary of the
    same metric as its main figure (`"main": true`: wer_macro under seedtts and f5,
    the papers' mean of per-utterance WERs), which then leads."""
    if not suite_main:
        return None
    metric = (metrics.get(suite_main) or {}).get("metric", suite_main)
    flagged = [name for name, s in metrics.items() if s.get("main") and s.get("metric", name) == metric]
    return flagged[0] if flagged else suite_main


def ordered_names(metrics: dict[str, Any], main: str | None) -> list[str]:
    """Main metric first, then the rest in the order the metrics produced them."""
    names = list(metrics)
    if main in metrics:
        names.remove(main)
        names.insert(0, main)
    return names


def format_summary(summary: dict[str, Any], run_dir: str | Path | None = None) -> str:
    metrics = summary["metrics"]
    rows = [("metric", "value", "95% CI", "n", "failed", "n/a")]
    for name in ordered_names(metrics, summary.get("main_metric")):
        m = metrics[name]
        ci = m.get("ci95")
        ci_text = f"[{format_value(ci[0])}, {format_value(ci[1])}]" if ci else ""
        label = f"{ARROW[m.get('higher_is_better')]} {name}" + (" (main)" if name == summary.get("main_metric") else "")
        rows.append((label, format_value(m["value"]), ci_text, str(m["n"]), str(m["n_failed"]),
                     str(m.get("n_not_applicable", 0))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    suite = summary["suite"]
    head = (f"suite {suite['name']} v{suite['version']} ({suite['content_hash'][:12]}) · system {summary['system']} · "
            f"protocol {summary['protocol']} · {summary['n_done']}/{summary['n_items']} items, "
            f"{summary['n_failed']} failed")
    out = [head, *lines]
    if summary.get("failures"):
        out.append("failures by stage: " + ", ".join(f"{k}: {v}" for k, v in sorted(summary["failures"].items())))
    if not summary.get("complete", True):
        out.append("INCOMPLETE: rerun the same command to finish")
    if run_dir is not None:
        out.append(f"run directory: {run_dir}")
    return "\n".join(out)
