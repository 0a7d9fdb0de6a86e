"""Leaderboards: one table per suite content, one row per run, one column per summary.

Runs are grouped by (suite name, version, content hash): two runs on different item
sets do not measure the same thing, so they never share a table, and the page says
why a suite appears more than once. Within a table the suite's main metric comes
first; ground-truth runs are topline rows, kept above the sortable rows.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.gating.outputs import format_number
from evalkit.report.runs import RunData
from evalkit.summary import ARROW, ordered_names


@dataclass(frozen=True)
class Column:
    name: str
    arrow: str
    main: bool


@dataclass(frozen=True)
class Cell:
    value: float | None
    text: str
    ci: str
    detail: str  # n, failure rate, items not applicable


@dataclass(frozen=True)
class Row:
    anchor: str  # id of the run's section on the page
    run: RunData
    checkpoints: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[Column, ...]
    toplines: tuple[Row, ...]
    rows: tuple[Row, ...]


def columns_for(runs: Sequence[RunData]) -> list[Column]:
    """Main metric first, then summaries in the order the first run lists them,
    with names only later runs have appended."""
    main = runs[0].main_metric
    names: list[str] = []
    for run in runs:
        names += [n for n in ordered_names(run.summary["metrics"], main) if n not in names]
    directions = {n: run.direction(n) for run in reversed(runs) for n in run.summary["metrics"]}
    return [Column(n, ARROW[directions.get(n)].strip(), n == main) for n in names]


def cell(summary: dict[str, Any] | None) -> Cell:
    if not summary:
        return Cell(None, "-", "", "")
    ci = summary.get("ci95")
    scored = (summary.get("n") or 0) + (summary.get("n_failed") or 0)
    rate = (summary.get("n_failed") or 0) / scored if scored else 0.0
    return Cell(
        summary.get("value"),
        format_number(summary.get("value")),
        f"[{format_number(ci[0])}, {format_number(ci[1])}]" if ci else "",
        f"n={summary.get('n')} · {rate:.0%} failed"
        + (f" · {na} n/a" if (na := summary.get("n_not_applicable")) else ""),
    )


def checkpoints_text(run: RunData) -> str:
    checkpoints = run.info["system"].get("checkpoints") or {}
    return ", ".join(f"{k} {str((v or {}).get('sha256'))[:10]}" for k, v in checkpoints.items())


def leaderboards(runs: Sequence[RunData], anchors: Sequence[str]) -> list[Table]:
    groups: dict[tuple, list[tuple[str, RunData]]] = {}
    for anchor, run in zip(anchors, runs):
        groups.setdefault(run.suite_key, []).append((anchor, run))
    tables = []
    for (name, version, content_hash), members in groups.items():
        columns = columns_for([r for _, r in members])
        rows = [
            Row(anchor, run, checkpoints_text(run), tuple(cell(run.summary["metrics"].get(c.name)) for c in columns))
            for anchor, run in members
        ]
        n_items = members[0][1].info["suite"].get("n_items")
        tables.append(Table(
            title=f"{name} v{version} · content {content_hash[:12]} · {n_items} items",
            columns=tuple(columns),
            toplines=tuple(r for r in rows if r.run.is_topline),
            rows=tuple(r for r in rows if not r.run.is_topline),
        ))
    return tables
