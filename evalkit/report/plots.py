"""Figures as inline SVG (matplotlib's object API on the SVG canvas: no pyplot, no
global backend, no display needed).

Text stays text in the SVG (svg.fonttype none: small files, searchable, and the
SVG backend escapes it), ids are salted with a constant so the same run renders the
same bytes, and the date metadata is dropped.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence

from evalkit.report.runs import RunData

WIDTH, HEIGHT = 5.2, 2.8  # inches: two figures side by side on a laptop screen
BAR_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
MAX_BARS = 12  # stage bars: items binned by duration beyond this
# Figures of runs are wider, and taller with more runs: run names are long.
COMPARE_WIDTH, COMPARE_HEIGHT = 7.4, 3.0
LEGEND_LINE = 0.16  # inches per run in a legend below the axes (7 pt text)
MARKERS = ("o", "s", "D", "^", "v", "P", "X")  # with the 8 colours: 56 runs told apart
TOPLINE_COLOR = "#1d2330"
MAX_TICK = 60  # characters of a run name as a tick label (the middle elided beyond)
MAX_LEGEND = 110  # ... in a legend below the axes, which has the figure's width


def _plain_text(plot):
    """Labels (run and system names, tags, stage names) are text: with mathtext on, a
    "$" pair in a name would be typeset as math (or fail to parse), and with usetex a
    name would go through LaTeX. Applies to every text the figure creates, ticks included."""
    import functools

    @functools.wraps(plot)
    def plain(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
            return plot(*args, **kwargs)

    return plain


def _figure(width: float = WIDTH, height: float = HEIGHT):
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasSVG(fig)
    return fig, fig.add_subplot()


def _svg(fig) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "evalkit"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


@_plain_text
def histogram(values: Sequence[float], xlabel: str, bins: int = 30) -> str | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    fig, ax = _figure()
    ax.hist(values, bins=min(bins, max(len(set(values)), 1)), color=BAR_COLORS[0])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("items")
    return _svg(fig)


@_plain_text
def stacked_bars(labels: Sequence[str], stages: dict[str, Sequence[float]], ylabel: str,
                 horizontal: bool = False) -> str | None:
    """Bars of stacked stages, one per label; horizontal for long labels (run names),
    top to bottom in the labels' order."""
    if not labels or not stages:
        return None
    fig, ax = _figure(COMPARE_WIDTH, max(1.8, 1.0 + 0.3 * len(labels))) if horizontal else _figure()
    bar = ax.barh if horizontal else ax.bar
    positions = [-i for i in range(len(labels))] if horizontal else list(range(len(labels)))
    bottom = [0.0] * len(labels)
    for i, (stage, heights) in enumerate(stages.items()):
        offset = {"left": bottom} if horizontal else {"bottom": bottom}
        bar(positions, heights, label=stage, color=BAR_COLORS[i % len(BAR_COLORS)], **offset)
        bottom = [b + h for b, h in zip(bottom, heights)]
    if horizontal:
        ax.set_yticks(positions, [_short(label) for label in labels], fontsize=7)
        ax.set_xlabel(ylabel)
    else:
        crowded = len(labels) > 4
        ax.set_xticks(positions, labels, rotation=30 if crowded else 0, ha="right" if crowded else "center",
                      fontsize=7)
        ax.set_ylabel(ylabel)
    if horizontal:
        fig.legend(loc="outside right upper", fontsize=7, frameon=False)
    else:
        ax.legend(fontsize=7, frameon=False)
    return _svg(fig)


@_plain_text
def scatter(x: Sequence[float], y: Sequence[float], xlabel: str, ylabel: str,
            ratios: Sequence[float] = ()) -> str | None:
    """Points with y = r * x guide lines (r = 1 and the given ratios)."""
    if not x:
        return None
    fig, ax = _figure()
    ax.scatter(x, y, s=8, alpha=0.6, color=BAR_COLORS[0], rasterized=len(x) > 500)
    top = max(max(x), max(y)) * 1.05
    for r in (1.0, *ratios):
        ax.plot([0, top], [0, r * top], linestyle="-" if r == 1 else ":", color="#888", linewidth=0.8)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _svg(fig)


def timed_records(records: Sequence[dict]) -> list[dict]:
    """Items with a synthesis timing and audio (systems that generate nothing have none)."""
    return [r for r in records if r.get("timing") and r.get("audio")]


def stage_rtf(records: Sequence[dict]) -> tuple[list[str], dict[str, list[float]]]:
    """RTF per pipeline stage (stage seconds / audio seconds), per item when there are
    few, else for items binned by audio length into equal-count bins."""
    timed = sorted(timed_records(records), key=lambda r: r["audio"]["seconds"])
    if not timed:
        return [], {}
    n_bins = min(MAX_BARS, len(timed))
    bins = [timed[len(timed) * i // n_bins: len(timed) * (i + 1) // n_bins] for i in range(n_bins)]
    if len(timed) <= MAX_BARS:
        labels = [b[0]["item_id"] for b in bins]
    else:
        labels = [f"{b[0]['audio']['seconds']:.1f}-{b[-1]['audio']['seconds']:.1f}s" for b in bins]
    per_bin = [stage_rtf_total(b) for b in bins]
    stages = {name: [d.get(name, 0.0) for d in per_bin] for name in sorted({s for d in per_bin for s in d})}
    return labels, stages


def run_figures(run: RunData) -> list[tuple[str, str]]:
    """(title, svg) of a run page: a histogram per quality summary shown per item,
    RTF by stage, generated vs. expected duration."""
    figures = []
    bound = run.snapshot.hardware_bound if run.snapshot else frozenset()
    for name in run.item_columns():
        summary = run.summary["metrics"][name]
        if summary.get("higher_is_better") is None or summary.get("metric") in bound:
            continue
        values = [run.item_value(name, r["item_id"]) for r in run.records]
        if set(values) <= {0.0, 1.0, None}:
            continue  # a rate of yes/no items: its card says all there is
        svg = histogram(values, f"per-item {name}")
        if svg:
            figures.append((f"{name} per item", svg))
    labels, stages = stage_rtf(run.records)
    svg = stacked_bars(labels, stages, "real-time factor")
    if svg:
        binned = " (items binned by audio length)" if len(labels) == MAX_BARS else ""
        figures.append(("RTF by pipeline stage" + binned, svg))
    durations = [s for r in run.records for s in (r.get("scores") or {}).values()
                 if isinstance(s, dict) and "expected_seconds" in s and "seconds" in s]
    svg = scatter([d["expected_seconds"] for d in durations], [d["seconds"] for d in durations],
                  "expected seconds", "generated seconds", ratios=(0.5, 2.0))
    if svg:
        figures.append(("generated vs. expected duration (dotted: 0.5x and 2x)", svg))
    return figures


def leaderboard_rtf(runs: Sequence[RunData]) -> str | None:
    """Corpus RTF by stage, one bar per run that timed its synthesis."""
    labels, per_run = [], []
    for run in runs:
        timed = timed_records(run.records)
        if timed:
            labels.append(run.label)
            per_run.append(stage_rtf_total(timed))
    names = sorted({s for stages in per_run for s in stages})
    return stacked_bars(labels, {n: [s.get(n, 0.0) for s in per_run] for n in names}, "real-time factor",
                        horizontal=True)


def stage_rtf_total(timed: Sequence[dict]) -> dict[str, float]:
    """Stage seconds / audio seconds over items (a system reporting no stages: one "synthesis" stage)."""
    audio = sum(r["audio"]["seconds"] for r in timed)
    totals: dict[str, float] = {}
    for r in timed:
        for stage, seconds in (r["timing"].get("stages") or {"synthesis": r["timing"]["seconds"]}).items():
            totals[stage] = totals.get(stage, 0.0) + seconds
    return {k: v / audio for k, v in totals.items()}


def _estimate(run: RunData, summary: str) -> tuple[float, float, float] | None:
    """(value, CI low, CI high) of a summary, the CI collapsed onto the value when absent."""
    s = run.summary["metrics"].get(summary) or {}
    value = s.get("value")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    low, high = s.get("ci95") or (value, value)
    return float(value), min(float(low), value), max(float(high), value)


def _short(label: str, limit: int = MAX_TICK) -> str:
    if len(label) <= limit:
        return label
    half = (limit - 1) // 2
    return f"{label[:half]}…{label[-half:]}"


def _axis_label(run: RunData, summary: str) -> str:
    better = {True: "higher is better", False: "lower is better"}.get(run.direction(summary))
    return f"{summary} ({better})" if better else summary


def _whiskers(estimate: tuple[float, float, float]) -> list[list[float]]:
    value, low, high = estimate
    return [[value - low], [high - value]]


@_plain_text
def run_comparison(runs: Sequence[RunData], x: str, y: str | None = None) -> tuple[str, str] | None:
    """(caption, svg) of comparison_figure."""
    drawn = comparison_figure(runs, x, y)
    return None if drawn is None else (drawn[0], _svg(drawn[1]))


def comparison_figure(runs: Sequence[RunData], x: str, y: str | None = None):
    """(caption, Figure) of the runs at a glance: each run's `x` (the main metric)
    against its `y` (SIM-o) with 95% whiskers both ways, or `x` alone per run when fewer
    than two runs have `y`. Topline runs are black stars with dashed guides at their
    values. None when fewer than two runs have `x`."""
    points = []
    for run in runs:
        ex = _estimate(run, x)
        ey = _estimate(run, y) if y else None
        if ex is not None:
            points.append((run, ex, ey))
    if len(points) < 2:
        return None
    if y is None or sum(ey is not None for _, _, ey in points) < 2:
        return f"runs at a glance: {x} with 95% intervals", _run_ranges(points, x)
    drawn = [p for p in points if p[2] is not None]
    fig, ax = _figure(COMPARE_WIDTH, COMPARE_HEIGHT + LEGEND_LINE * len(drawn))
    others = 0  # runs other than toplines, each its own colour and marker
    for run, ex, ey in drawn:
        top = run.is_topline
        color = TOPLINE_COLOR if top else BAR_COLORS[others % len(BAR_COLORS)]
        marker = "*" if top else MARKERS[others // len(BAR_COLORS) % len(MARKERS)]
        others += not top
        ax.errorbar(ex[0], ey[0], xerr=_whiskers(ex), yerr=_whiskers(ey), fmt=marker, color=color,
                    markersize=11 if top else 6, capsize=3, elinewidth=1,
                    label=_short(run.label, MAX_LEGEND) + (" (topline)" if top else ""))
        if top:
            ax.axvline(ex[0], color=color, linestyle="--", linewidth=0.8, alpha=0.5)
            ax.axhline(ey[0], color=color, linestyle="--", linewidth=0.8, alpha=0.5)
    first = points[0][0]
    ax.set_xlabel(_axis_label(first, x))
    ax.set_ylabel(_axis_label(first, y))
    ax.grid(alpha=0.25)
    fig.legend(loc="outside lower center", fontsize=7, frameon=False)
    return f"runs at a glance: {x} against {y}, with 95% intervals", fig


def _run_ranges(points, x: str):
    """One line per run: its value of `x` with 95% whiskers (first run on top)."""
    fig, ax = _figure(COMPARE_WIDTH, max(1.8, 0.9 + 0.28 * len(points)))
    for i, (run, ex, _) in enumerate(points):
        top = run.is_topline
        color = TOPLINE_COLOR if top else BAR_COLORS[0]
        ax.errorbar(ex[0], -i, xerr=_whiskers(ex), fmt="*" if top else "o", color=color,
                    markersize=11 if top else 6, capsize=3, elinewidth=1)
        if top:
            ax.axvline(ex[0], color=color, linestyle="--", linewidth=0.8, alpha=0.5)
    ax.set_yticks([-i for i in range(len(points))],
                  [_short(run.label) + (" (topline)" if run.is_topline else "") for run, _, _ in points], fontsize=7)
    ax.set_ylim(-len(points) + 0.5, 0.5)
    ax.set_xlabel(_axis_label(points[0][0], x))
    ax.grid(axis="x", alpha=0.25)
    return fig
