"""Item tables: one row per item, worst first, rendered and paginated by the page script.

A table is plain JSON: `columns` (label, kind, direction) and `rows` (one cell per
column). Kinds: "item" {id, tags, err, emb}, "speech" {text, tr, ops}, "num" (a number
or null), "audio" [[label, clip key], ...]. Cells are shown as text, never as HTML.
"""
from __future__ import annotations

import math
import random
from typing import Any

from evalkit.report.alignment import align_words
from evalkit.report.audio import AudioCatalog
from evalkit.report.runs import RunData
from evalkit.summary import ARROW

# Items whose clips are embedded, for the whole report: split between the runs, half
# the worst items and half a fixed random sample (the worst alone would make the page
# look worse than the run is).
EMBED_ITEMS_PER_REPORT = 40
PAGE_SIZE = 25


def speech_cell(record: dict[str, Any]) -> dict[str, Any]:
    """Text, and the transcript aligned to it when a metric stored normalized strings."""
    cell: dict[str, Any] = {"text": record.get("text") or ""}
    for score in (record.get("scores") or {}).values():
        if isinstance(score, dict) and "ref_norm" in score and "hyp_norm" in score:
            cell["tr"] = score.get("transcript")
            cell["ops"] = align_words(score["ref_norm"] or "", score["hyp_norm"] or "")
            break
    return cell


def error_text(record: dict[str, Any]) -> str | None:
    err = record.get("error")
    if err:
        return f"{err.get('stage')}: {err.get('type')}: {err.get('message')}"
    metric_errors = record.get("metric_errors") or {}
    return "; ".join(f"{m}: {e.get('message')}" for m, e in metric_errors.items()) or None


def worst_first(run: RunData, summary: str) -> list[dict[str, Any]]:
    """Failed items first, then by the summary's per-item value, worst first."""
    higher_is_better = run.direction(summary)

    def badness(record):
        value = run.item_value(summary, record["item_id"])
        if record.get("error") or value is None or not math.isfinite(value):
            return (0, 0.0) if record.get("error") else (2, 0.0)
        return (1, value if higher_is_better else -value)

    return sorted(run.records, key=badness)


def embedded_ids(ordered: list[dict[str, Any]], per_run: int, seed: str) -> set[str]:
    worst = [r["item_id"] for r in ordered[: per_run // 2 or 1]]
    rest = [r["item_id"] for r in ordered[len(worst):]]
    sample = random.Random(seed).sample(rest, min(len(rest), per_run - len(worst)))
    return set(worst) | set(sample)


def audio_cell(run: RunData, record: dict[str, Any], catalog: AudioCatalog, embed: bool) -> list[list[str]]:
    item = (run.items or {}).get(record["item_id"])
    clips = [
        ("generated", run.dir / record["audio"]["path"] if record.get("audio") else None),
        ("prompt", item.prompt_audio if item else None),
        ("ground truth", item.reference_audio if item else None),
    ]
    if run.is_topline:  # the generated clip *is* the ground truth
        clips = clips[:2]
    return [[label, key] for label, path in clips if (key := catalog.add(path, embed)) is not None]


def num_columns(run: RunData, names: list[str]) -> list[dict[str, Any]]:
    return [{"label": f"{ARROW[run.direction(n)]} {n}".strip(), "kind": "num", "hib": run.direction(n)} for n in names]


def run_item_table(run: RunData, catalog: AudioCatalog, n_runs: int) -> dict[str, Any]:
    names = run.item_columns()
    ordered = worst_first(run, names[0]) if names else list(run.records)
    embed = embedded_ids(ordered, max(2, EMBED_ITEMS_PER_REPORT // n_runs), run.info["run_id"])
    rows = []
    for record in ordered:
        item_id = record["item_id"]
        audio = audio_cell(run, record, catalog, item_id in embed)
        rows.append([
            {"id": item_id, "tags": record.get("tags") or [], "err": error_text(record),
             "emb": any(key in catalog.embedded for _, key in audio)},
            speech_cell(record),
            *[run.item_value(n, item_id) for n in names],
            audio,
        ])
    columns = [{"label": "item", "kind": "item"}, {"label": "text / transcript", "kind": "speech"},
               *num_columns(run, names), {"label": "audio", "kind": "audio"}]
    return {"columns": columns, "rows": rows, "page_size": PAGE_SIZE}
