"""Leaderboards: one table per suite content, one row per run, one column per summary.

Runs are grouped by (suite name, version, content hash): two runs on different item
sets do not measure the same thing, so they never share a table, and the page says
why a suite appears more than once. Ground-truth runs are topline rows, kept above the
sortable rows.

A table leads with its headline columns -- the suite's main metric (the protocol's
headline, see evalkit.summary.headline), speaker similarity to the prompt, the quality
predictors a run scored, RTF and the share of items that failed -- and keeps every
other summary (and the protocol and date) as extra columns the page hides until asked.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.gating.outputs import format_number
from evalkit.report.runs import RunData
from evalkit.summary import ARROW, ordered_names

# The headline after the main metric, in this order, each where some run of the table
# has it: speaker similarity to the prompt (SIM-o, what the papers report), the MOS
# predictors (UTMOS; DNSMOS overall, its one-number summary), speed.
HEADLINE_SUMMARIES = ("sim_o", "utmos", "dnsmos_ovrl", "rtf")
FAILURES = "failed"  # the column of items that failed (generation or scoring), not a summary
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Column:
    name: str
    arrow: str
    main: bool
    headline: bool = False  # shown before the reader asks for every column
    kind: str = "summary"  # "summary" (a metrics.json summary) or "failures"

    @property
    def title(self) -> str:
        if self.kind == "failures":
            return "items that failed in generation or scoring, with a Wilson 95% interval"
        return {"↑": "higher is better", "↓": "lower is better"}.get(self.arrow, "no better direction")


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

    @property
    def checkpoint_parts(self) -> list[str]:
        return checkpoint_parts(self.run)


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[Column, ...]  # headline columns first
    toplines: tuple[Row, ...]
    rows: tuple[Row, ...]
    protocols: tuple[str, ...] = ()
    picture: tuple[str, str] | None = None  # (caption, SVG) comparing the runs: render.py draws it

    @property
    def n_extra(self) -> int:
        return sum(not c.headline for c in self.columns)

    @property
    def runs(self) -> list[RunData]:
        return [r.run for r in (*self.toplines, *self.rows)]


def columns_for(runs: Sequence[RunData]) -> list[Column]:
    """The headline columns (main metric, SIM-o, quality predictors, RTF, failures), then
    the other summaries in the order the first run lists them, with names only later
    runs have appended."""
    main = runs[0].main_metric
    names: list[str] = []
    for run in runs:
        names += [n for n in ordered_names(run.summary["metrics"], main) if n not in names]
    directions = {n: run.direction(n) for run in reversed(runs) for n in run.summary["metrics"]}

    def column(name: str, headline: bool) -> Column:
        return Column(name, ARROW[directions.get(name)].strip(), name == main, headline)

    head = [n for n in (main, *HEADLINE_SUMMARIES) if n in names]
    head = list(dict.fromkeys(head))  # the main metric may itself be one of them
    return [*(column(n, True) for n in head), Column(FAILURES, ARROW[False].strip(), False, True, "failures"),
            *(column(n, False) for n in names if n not in head)]


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


def failed_items(run: RunData) -> tuple[int, int]:
    """(items with a generation error or a scoring error, items recorded)."""
    failed = sum(1 for r in run.records if r.get("error") or r.get("metric_errors"))
    return failed, len(run.records)


def proportion_ci(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval of k successes in n. Not the item bootstrap the summaries
    use: resampling a run with no failures gives [0, 0], as if ten items proved a
    system never fails; Wilson's interval for 0 of 10 reaches 28%."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def failures_cell(run: RunData) -> Cell:
    failed, n = failed_items(run)
    if n == 0:
        return Cell(None, "-", "", "no items recorded")
    ci = proportion_ci(failed, n)
    by_stage = ", ".join(f"{stage} {count}" for stage, count in sorted((run.summary.get("failures") or {}).items()))
    return Cell(failed / n, f"{failed / n:.1%}", f"[{ci[0]:.1%}, {ci[1]:.1%}]",
                f"{failed} of {n} items" + (f" · {by_stage}" if by_stage else ""))


def row_cells(run: RunData, columns: Sequence[Column]) -> tuple[Cell, ...]:
    return tuple(failures_cell(run) if c.kind == "failures" else cell(run.summary["metrics"].get(c.name))
                 for c in columns)


def checkpoint_parts(run: RunData) -> list[str]:
    """"component sha256-prefix" per checkpoint (the run page has the full hashes)."""
    checkpoints = run.info["system"].get("checkpoints") or {}
    return [f"{k} {str((v or {}).get('sha256'))[:10]}" for k, v in checkpoints.items()]


def checkpoints_text(run: RunData) -> str:
    return ", ".join(checkpoint_parts(run))


def leaderboards(runs: Sequence[RunData], anchors: Sequence[str]) -> list[Table]:
    groups: dict[tuple, list[tuple[str, RunData]]] = {}
    for anchor, run in zip(anchors, runs):
        groups.setdefault(run.suite_key, []).append((anchor, run))
    tables = []
    for (name, version, content_hash), members in groups.items():
        columns = columns_for([r for _, r in members])
        rows = [Row(anchor, run, checkpoints_text(run), row_cells(run, columns)) for anchor, run in members]
        n_items = members[0][1].info["suite"].get("n_items")
        tables.append(Table(
            title=f"{name} v{version} · content {content_hash[:12]} · {n_items} items",
            columns=tuple(columns),
            toplines=tuple(r for r in rows if r.run.is_topline),
            rows=tuple(r for r in rows if not r.run.is_topline),
            protocols=tuple(dict.fromkeys(str(run.info.get("protocol")) for _, run in members)),
        ))
    return tables
