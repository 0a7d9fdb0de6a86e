"""Pages: view models -> one self-contained HTML file (or a publishable folder).

Everything the page needs is inline: CSS, the script, SVG figures, table data as
JSON and the capped set of embedded clips; the rest of the audio is linked by a
relative path (or copied next to the page with --bundle). Templates are autoescaped
and table data goes through Jinja's tojson (which escapes <, > and &), so no text
from a suite or a transcript can become markup. A Content-Security-Policy allows
only the page's own script (by hash) to run, as a second line of defence.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.report.audio import EMBED_BUDGET_BYTES, AudioCatalog
from evalkit.report.leaderboard import Cell, Table, cell, leaderboards
from evalkit.report.provenance import Section, sections
from evalkit.report.runs import RunData, load_run_data
from evalkit.summary import ARROW, ordered_names
from evalkit.types import EvalkitError

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_DIR = Path("reports")


@dataclass(frozen=True)
class Card:
    name: str
    arrow: str
    main: bool
    cell: Cell


@dataclass(frozen=True)
class RunPage:
    anchor: str
    run: RunData
    provenance: list[Section]
    cards: list[Card]
    figures: list[tuple[str, str]]
    table_id: str


def cards(run: RunData) -> list[Card]:
    metrics = run.summary["metrics"]
    return [Card(n, ARROW[metrics[n].get("higher_is_better")].strip(), n == run.main_metric, cell(metrics[n]))
            for n in ordered_names(metrics, run.main_metric)]


def _static(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    # Strict JSON in data blocks: a NaN would make the whole block unparseable.
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "allow_nan": False, "ensure_ascii": False}
    return env


def render_page(template: str, **context: Any) -> str:
    from markupsafe import Markup

    script = _static("page.js")
    script_hash = "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return _environment().get_template(template).render(
        css=Markup(_static("page.css")), js=Markup(script), script_hash=script_hash, version=__version__,
        generated=datetime.now(UTC).isoformat(timespec="seconds"), **context,
    )


def destination(out: str | Path | None, bundle: str | Path | None, default_name: str) -> tuple[Path, Path | None]:
    """(page path, bundle folder or None)."""
    if out is not None and bundle is not None:
        raise EvalkitError("give --out FILE or --bundle DIR, not both (a bundle's page is DIR/index.html)")
    if bundle is not None:
        bundle = Path(bundle)
        return bundle / "index.html", bundle
    page = Path(out) if out else DEFAULT_DIR / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', default_name)}.html"
    return page, None


def publish(page_path: Path, html: str, catalog: AudioCatalog) -> Path:
    """Replace the page atomically (its bundled clips are already in place), then drop
    bundled clips only the previous page used: a kill leaves the old or the new page
    with every clip it refers to."""
    from evalkit.cache import atomic_write_bytes

    atomic_write_bytes(page_path, html.encode("utf-8"))
    catalog.prune_bundle()
    return page_path


def write_report(run_dirs: Sequence[str | Path], out: str | Path | None = None, bundle: str | Path | None = None,
                 embed_budget: int = EMBED_BUDGET_BYTES) -> Path:
    """Leaderboard(s) and one page per run, as one HTML file (or a folder with --bundle)."""
    from evalkit.report.items import run_item_table
    from evalkit.report.plots import leaderboard_rtf, run_figures

    runs, not_shown = load_runs(run_dirs)
    suites = sorted({r.info["suite"]["name"] for r in runs})
    default_name = "-".join([*suites, *sorted({r.system for r in runs})])
    page_path, bundle_dir = destination(out, bundle, default_name)
    catalog = AudioCatalog(page_path.parent, bundle_dir, embed_budget)
    anchors = [f"run-{i}" for i in range(len(runs))]
    tables = {}
    pages = []
    for anchor, run in zip(anchors, runs):
        table_id = f"items-{anchor}"
        tables[table_id] = run_item_table(run, catalog, len(runs))
        pages.append(RunPage(anchor, run, sections(run), cards(run), run_figures(run), table_id))
    html = render_page(
        "report.html.j2", title=f"evalkit report: {', '.join(suites)}",
        leaderboards=[with_picture(t) for t in leaderboards(runs, anchors)],
        split_note=len({r.suite_key for r in runs}) > 1, rtf_figure=leaderboard_rtf(runs), pages=pages,
        tables=tables, audio=catalog.sources, n_embedded=len(catalog.embedded), n_clips=len(catalog.sources),
        not_shown=not_shown,
    )
    return publish(page_path, html, catalog)


def with_picture(table: Table) -> Table:
    """The table with its runs at a glance: main metric against SIM-o (or the main metric alone)."""
    from evalkit.report.plots import run_comparison

    main = next((c.name for c in table.columns if c.kind == "summary"), None)
    if main is None:
        return table
    sim = "sim_o" if any(c.name == "sim_o" for c in table.columns) and main != "sim_o" else None
    return dataclasses.replace(table, picture=run_comparison(table.runs, main, sim))


def load_runs(run_dirs: Sequence[str | Path]) -> tuple[list[RunData], list[tuple[str, str]]]:
    """The runs that can be shown, and (directory, state) of those that cannot (an
    unfinished first invocation, a run stopped at setup, a damaged file): a report of
    a runs/ folder shows what is there and says what is not, rather than failing."""
    from evalkit.store import run_state

    runs, not_shown = [], []
    for run_dir in run_dirs:
        try:
            runs.append(load_run_data(run_dir))
        except EvalkitError:
            not_shown.append((str(run_dir), run_state(run_dir)))
        except (KeyError, TypeError, ValueError) as exc:  # JSON of the wrong shape
            not_shown.append((str(run_dir), f"damaged run files ({type(exc).__name__}: {exc})"))
    if not runs:
        raise EvalkitError("no run to report: " + "; ".join(f"{d}: {state}" for d, state in not_shown))
    return runs, not_shown


def write_compare(baseline_dir: str | Path, candidate_dir: str | Path, out: str | Path | None = None,
                  bundle: str | Path | None = None, embed_budget: int = EMBED_BUDGET_BYTES) -> Path:
    """The A/B page of two runs of one suite."""
    from evalkit.gating.decision import provenance_differences
    from evalkit.report.compare import VERDICT_LABELS, build_compare
    from evalkit.report.plots import histogram

    base, cand = load_run_data(baseline_dir), load_run_data(candidate_dir)
    page_path, bundle_dir = destination(out, bundle, f"compare-{base.info['run_id']}-vs-{cand.info['run_id']}")
    catalog = AudioCatalog(page_path.parent, bundle_dir, embed_budget)
    view = build_compare(base, cand, catalog)
    changed = provenance_differences(
        {"system": base.info["system"], "git": base.info.get("git"), "protocol": base.info.get("protocol"),
         "metrics": base.snapshot.metrics, "machine": base.snapshot.machine},
        {"system": cand.info["system"], "git": cand.info.get("git"), "protocol": cand.info.get("protocol"),
         "metrics": cand.snapshot.metrics, "machine": cand.snapshot.machine},
    )
    html = render_page(
        "compare.html.j2", title=f"evalkit A/B: {base.label} vs {cand.label}", view=view, changed=changed,
        verdict_labels=VERDICT_LABELS, arrows=ARROW,
        delta_figure=histogram(list(view.deltas.values()), f"per-item change of {view.main} (B - A)"),
        tables={"regressed": view.regressed, "improved": view.improved, "all-items": view.all_items},
        audio=catalog.sources, n_embedded=len(catalog.embedded), n_clips=len(catalog.sources),
    )
    return publish(page_path, html, catalog)

