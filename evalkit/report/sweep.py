"""The sweep page: configurations with their seeds grouped, and paired comparisons.

One row per configuration (checkpoint x preset). For every summary with a direction it
shows the mean over seeds, the across-seed standard deviation and range (what "average
several runs" means), next to the item-bootstrap 95% CI of one run (the mean of the
seeds' intervals): when the seed spread is as wide as the CI, a single run's CI
understates how much the figure moves between runs.

Every checkpoint is compared with the reference checkpoint (the first, or the one
named) at the same preset, item by item: per seed the difference of the two runs, and
pooled over seeds the paired item bootstrap of Σ numerators / Σ denominators over all
seeds' terms of an item (for WER, whose denominators do not change with the seed, the
mean over seeds) -- the same resampling a gate uses (gating/paired.py).
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evalkit.gating.outputs import format_number
from evalkit.gating.paired import PairedDelta, paired_delta
from evalkit.report.leaderboard import HEADLINE_SUMMARIES
from evalkit.report.runs import RunData, load_run_data
from evalkit.summary import ARROW, ordered_names


@dataclass(frozen=True)
class SeedStats:
    """One summary over the seeds of one configuration."""

    values: tuple[float, ...]
    mean: float | None
    std: float | None  # across seeds (n-1); None with one seed
    ci: tuple[float, float] | None  # mean of the seeds' item-bootstrap intervals

    @classmethod
    def of(cls, summaries: Sequence[dict | None]) -> SeedStats:
        values = tuple(float(s["value"]) for s in summaries if s and s.get("value") is not None)
        cis = [s["ci95"] for s in summaries if s and s.get("ci95")]
        mean = sum(values) / len(values) if values else None
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
        ci = (sum(c[0] for c in cis) / len(cis), sum(c[1] for c in cis) / len(cis)) if cis else None
        return cls(values, mean, std, ci)

    @property
    def text(self) -> str:
        return format_number(self.mean)

    @property
    def spread(self) -> str:
        if len(self.values) < 2:
            return "one seed"
        low, high = format_number(min(self.values)), format_number(max(self.values))
        return f"sd {format_number(self.std)} · range {low}-{high}"

    @property
    def ci_text(self) -> str:
        return "" if self.ci is None else f"[{format_number(self.ci[0])}, {format_number(self.ci[1])}]"


@dataclass(frozen=True)
class Configuration:
    checkpoint: str | None
    preset: str | None
    seeds: tuple[int, ...]
    runs: tuple[RunData, ...]
    links: tuple[tuple[int, str], ...]  # (seed, run directory relative to the page)
    stats: tuple[SeedStats, ...]  # one per column
    is_reference: bool = False

    @property
    def label(self) -> str:
        return " · ".join(p for p in (Path(self.checkpoint).name if self.checkpoint else None, self.preset) if p) or "-"


@dataclass(frozen=True)
class Comparison:
    checkpoint: str
    reference: str
    preset: str | None
    summary: str
    arrow: str
    per_seed: tuple[tuple[int, float | None], ...]
    pooled: PairedDelta
    verdict: str

    @property
    def delta_text(self) -> str:
        ci = self.pooled.ci95
        return f"{format_number(self.pooled.delta, signed=True)}" + (
            f" [{format_number(ci[0], signed=True)}, {format_number(ci[1], signed=True)}]" if ci else "")


def pooled_terms(runs: Sequence[RunData], summary: str) -> dict[str, tuple[float, float]]:
    """Item id -> (Σ numerators, Σ denominators) over the runs (seeds) that all have the item."""
    terms = [r.snapshot.terms.get(summary, {}) if r.snapshot else {} for r in runs]
    shared = set.intersection(*(set(t) for t in terms)) if terms else set()
    return {i: (sum(t[i][0] for t in terms), sum(t[i][1] for t in terms)) for i in shared}


def verdict(pooled: PairedDelta, higher_is_better: bool | None) -> str:
    if pooled.ci95 is None or pooled.delta is None:
        return "not comparable"
    lo, hi = pooled.ci95
    if lo <= 0 <= hi:
        return "no clear difference"
    if higher_is_better is None:
        return "differs"
    return "better" if (lo > 0) == higher_is_better else "worse"


def build_sweep(cells: Sequence[tuple], reference: str | None, page_dir: Path):
    """(columns, configurations, comparisons) of sweep cells [(Cell, run_dir)]."""
    groups: dict[tuple, list[tuple[int, RunData]]] = {}
    for cell, run_dir in cells:
        groups.setdefault(cell.configuration, []).append((cell.seed, load_run_data(run_dir)))
    first = next(iter(groups.values()))[0][1]
    columns = [n for n in ordered_names(first.summary["metrics"], first.main_metric)
               if n == first.main_metric or first.direction(n) is not None]
    configurations = []
    for (checkpoint, preset), members in groups.items():
        runs = tuple(run for _, run in members)
        links = tuple((seed, os.path.relpath(run.dir, page_dir)) for seed, run in members)
        stats = tuple(SeedStats.of([r.summary["metrics"].get(c) for r in runs]) for c in columns)
        configurations.append(Configuration(checkpoint, preset, tuple(s for s, _ in members), runs, links, stats,
                                            reference is not None and checkpoint == reference))
    comparisons = []
    by_key = {(c.checkpoint, c.preset): c for c in configurations}
    for conf in configurations:
        base = by_key.get((reference, conf.preset))
        if reference is None or conf.checkpoint == reference or base is None:
            continue
        seeds = [s for s in conf.seeds if s in base.seeds]
        cand_runs = [conf.runs[conf.seeds.index(s)] for s in seeds]
        base_runs = [base.runs[base.seeds.index(s)] for s in seeds]
        for name in columns:
            if not all(r.snapshot and name in r.snapshot.terms for r in (*cand_runs, *base_runs)):
                continue
            per_seed = tuple((s, paired_delta(b.snapshot.terms[name], c.snapshot.terms[name]).delta)
                             for s, b, c in zip(seeds, base_runs, cand_runs))
            pooled = paired_delta(pooled_terms(base_runs, name), pooled_terms(cand_runs, name))
            direction = first.direction(name)
            comparisons.append(Comparison(conf.checkpoint, reference, conf.preset, name, ARROW[direction].strip(),
                                          per_seed, pooled, verdict(pooled, direction)))
    return columns, configurations, comparisons


def write_sweep_report(cells: Sequence[tuple], reference: str | None, out: str | Path) -> Path:
    """One self-contained page for a sweep's cells [(Cell, run directory)]."""
    from evalkit.cache import atomic_write_bytes
    from evalkit.report.render import render_page

    page = Path(out)
    page.parent.mkdir(parents=True, exist_ok=True)
    columns, configurations, comparisons = build_sweep(cells, reference, page.parent.resolve())
    first = configurations[0].runs[0]
    suite = first.info["suite"]
    html = render_page(
        "sweep.html.j2", title=f"evalkit sweep: {first.system} on {suite['name']}",
        suite=f"{suite['name']} v{suite['version']} · content {suite['content_hash'][:12]} · "
              f"{first.summary.get('n_items')} items per run",
        # As on the leaderboard: the headline summaries shown, the others behind the columns toggle.
        columns=[(c, ARROW[first.direction(c)].strip(), c == first.main_metric,
                  c == first.main_metric or c in HEADLINE_SUMMARIES) for c in columns],
        configurations=configurations, comparisons=comparisons,
        reference=Path(reference).name if reference else None, n_cells=len(cells),
        tables={}, audio={}, n_embedded=0, n_clips=0,
    )
    atomic_write_bytes(page, html.encode("utf-8"))
    return page
