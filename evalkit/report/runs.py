"""A run directory loaded for display.

Besides run.json, samples.jsonl and metrics.json, a report wants per-item values and
the suite's items (the prompt and ground-truth audio to play next to the generated
clip). A summary's per-item value is its paired term's numerator / denominator (that
item's WER, similarity, RTF...), or, for a metric without paired terms, the number its
per-item record stores under the summary's name (scores.wer.wer, scores.sim.sim_o).
Both are optional: a run copied from another machine still renders, with a note
saying what is missing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.gating.snapshot import Snapshot, snapshot_from, suite_items
from evalkit.types import EvalkitError, Item

TOPLINE_SYSTEMS = frozenset({"ground-truth"})


@dataclass(frozen=True)
class RunData:
    dir: Path
    info: dict[str, Any]
    records: list[dict[str, Any]]
    summary: dict[str, Any]  # metrics.json
    snapshot: Snapshot | None  # None when per-item terms could not be rebuilt
    items: dict[str, Item] | None  # the suite's items by id, when the suite is loadable here
    values: dict[str, dict[str, float]]  # summary -> item id -> per-item value
    notes: tuple[str, ...]

    @property
    def system(self) -> str:
        return self.info["system"]["name"]

    @property
    def preset(self) -> str | None:
        return (self.info["system"].get("options") or {}).get("preset")

    @property
    def label(self) -> str:
        return f"{self.system}{' ' + self.preset if self.preset else ''} · {self.info['run_id']}"

    @property
    def is_topline(self) -> bool:
        return self.system in TOPLINE_SYSTEMS

    @property
    def main_metric(self) -> str:
        return self.summary.get("main_metric") or self.info["suite"].get("main_metric") or "wer"

    @property
    def suite_key(self) -> tuple[str, str, str]:
        s = self.info["suite"]
        return s["name"], str(s["version"]), s["content_hash"]

    def item_columns(self) -> list[str]:
        """Summaries shown per item: the main summary, then each metric's first summary
        with per-item values (wer, sim_o, rtf, duration_ratio, ...)."""
        from evalkit.summary import ordered_names

        columns, seen_metrics = [], set()
        for name in ordered_names(self.summary["metrics"], self.main_metric):
            metric = self.summary["metrics"][name].get("metric", name)
            if self.values.get(name) and (metric not in seen_metrics or name == self.main_metric):
                columns.append(name)
                seen_metrics.add(metric)
        return columns

    def item_value(self, summary: str, item_id: str) -> float | None:
        return self.values.get(summary, {}).get(item_id)

    def direction(self, summary: str) -> bool | None:
        return (self.summary["metrics"].get(summary) or {}).get("higher_is_better")


def load_run_data(run_dir: str | Path) -> RunData:
    from evalkit.store import load_run

    run_dir = Path(run_dir)
    info, records, summary = load_run(run_dir)
    if summary is None:
        raise EvalkitError(f"{run_dir}: no metrics.json yet (the run has not finished an invocation)")
    notes = []
    items = suite_items(info)
    if items is None:
        notes.append(f"suite {info['suite']['name']!r} with this run's content hash is not available here: "
                     "no prompt or ground-truth audio")
    try:
        snapshot = snapshot_from(info, records, summary, str(run_dir))
    except EvalkitError as exc:
        snapshot = None
        notes.append(f"no per-item values: {exc}")
    if not summary.get("complete", True):
        notes.append(f"unfinished run: {summary.get('n_done')} of {summary.get('n_items')} items")
    values = {name: per_item_values(name, s.get("metric", name), records, snapshot)
              for name, s in summary["metrics"].items()}
    return RunData(run_dir, info, records, summary, snapshot, items, values, tuple(notes))


def per_item_values(summary: str, metric: str, records: list[dict[str, Any]],
                    snapshot: Snapshot | None) -> dict[str, float]:
    """Item id -> the summary's per-item value (finite numbers only: JSON has no NaN)."""
    if snapshot is not None and summary in snapshot.terms:
        pairs = {k: num / den for k, (num, den) in snapshot.terms[summary].items() if den}
    else:
        pairs = {r["item_id"]: ((r.get("scores") or {}).get(metric) or {}).get(summary) for r in records}
    return {k: float(v) for k, v in pairs.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
