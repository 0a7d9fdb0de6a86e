"""The A/B view of two runs: paired deltas per summary, and the items that moved most.

Deltas and intervals are the gate's (paired bootstrap over shared items), judged with
zero tolerance: "worse"/"better" means the 95% interval of candidate - baseline lies
entirely on that side of zero. Items are ranked by the change of their own value of
the suite's main summary (per-item WER, for instance; see evalkit.report.runs),
oriented so that "regressed" always means worse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalkit.gating.decision import (
    IMPROVED,
    REGRESSION,
    Problem,
    SummaryResult,
    compare_summary,
    ordered_summaries,
    run_checks,
)
from evalkit.gating.policy import Policy, Tolerance
from evalkit.report.audio import AudioCatalog
from evalkit.report.items import PAGE_SIZE, audio_cell, error_text, num_columns, speech_cell
from evalkit.report.runs import RunData
from evalkit.types import EvalkitError

TOP_ITEMS = 10


def item_deltas(base: dict[str, float], cand: dict[str, float]) -> dict[str, float]:
    """Per item both runs have a value of: candidate - baseline."""
    return {k: cand[k] - base[k] for k in base.keys() & cand.keys()}
# Zero tolerance for every summary, timing ones included: an A/B page reports
# significance, not pass/fail.
SIGNIFICANCE = Policy(default=Tolerance(), summaries={})
VERDICT_LABELS = {REGRESSION: "worse", IMPROVED: "better", "pass": "no significant change"}


@dataclass(frozen=True)
class CompareView:
    baseline: RunData
    candidate: RunData
    main: str
    problems: tuple[Problem, ...]
    results: tuple[SummaryResult, ...]
    regressed: dict[str, Any]  # item tables (see evalkit.report.items)
    improved: dict[str, Any]
    all_items: dict[str, Any]
    deltas: dict[str, float]  # item id -> change of the main summary (candidate - baseline)


def _pair_table(base: RunData, cand: RunData, main: str, ids: list[str], deltas: dict[str, float],
                catalog: AudioCatalog, embed: bool) -> dict[str, Any]:
    base_records = {r["item_id"]: r for r in base.records}
    cand_records = {r["item_id"]: r for r in cand.records}
    rows = []
    for item_id in ids:
        b, c = base_records[item_id], cand_records[item_id]
        clips = [["A " + label, key] for label, key in audio_cell(base, b, catalog, embed) if label == "generated"]
        clips += [["B " + label, key] for label, key in audio_cell(cand, c, catalog, embed)]
        rows.append([
            {"id": item_id, "tags": c.get("tags") or [], "err": error_text(c) or error_text(b),
             "emb": any(key in catalog.embedded for _, key in clips)},
            speech_cell(b), speech_cell(c),
            base.item_value(main, item_id), cand.item_value(main, item_id), deltas.get(item_id),
            clips,
        ])
    (arrow_col,) = num_columns(cand, [main])
    columns = [
        {"label": "item", "kind": "item"},
        {"label": f"A: {base.label}", "kind": "speech"},
        {"label": f"B: {cand.label}", "kind": "speech"},
        {**arrow_col, "label": f"A {arrow_col['label']}"},
        {**arrow_col, "label": f"B {arrow_col['label']}"},
        {**arrow_col, "label": "B - A"},
        {"label": "audio (A generated, B generated, prompt, ground truth)", "kind": "audio"},
    ]
    return {"columns": columns, "rows": rows, "page_size": PAGE_SIZE}


def ranking_summary(base: RunData, cand: RunData) -> str:
    """The suite's main summary, else the first summary both runs have per-item values
    of and that has a better direction."""
    def rankable(name: str) -> bool:
        shared = base.values.get(name, {}).keys() & cand.values.get(name, {}).keys()
        return bool(shared) and base.direction(name) is not None

    names = [base.main_metric, *base.item_columns(), *base.summary["metrics"]]
    return next((n for n in names if rankable(n)), base.main_metric)


def build_compare(base: RunData, cand: RunData, catalog: AudioCatalog) -> CompareView:
    if base.snapshot is None or cand.snapshot is None:
        raise EvalkitError("compare needs per-item values of both runs: " + "; ".join(base.notes + cand.notes))
    problems = tuple(run_checks(base.snapshot, cand.snapshot, SIGNIFICANCE))
    same_suite = base.suite_key == cand.suite_key  # else no item pairs with another
    results = tuple(compare_summary(n, base.snapshot, cand.snapshot, SIGNIFICANCE)
                    for n in ordered_summaries(base.snapshot)) if same_suite else ()
    main = ranking_summary(base, cand)
    deltas = item_deltas(base.values.get(main, {}), cand.values.get(main, {})) if same_suite else {}
    badness = {i: d if base.direction(main) is False else -d for i, d in deltas.items()}
    by_badness = sorted(badness, key=badness.get, reverse=True)
    regressed = [i for i in by_badness if badness[i] > 0][:TOP_ITEMS]
    improved = [i for i in reversed(by_badness) if badness[i] < 0][:TOP_ITEMS]
    return CompareView(
        baseline=base, candidate=cand, main=main, problems=problems, results=results,
        regressed=_pair_table(base, cand, main, regressed, deltas, catalog, embed=True),
        improved=_pair_table(base, cand, main, improved, deltas, catalog, embed=True),
        all_items=_pair_table(base, cand, main, by_badness, deltas, catalog, embed=False),
        deltas=deltas,
    )
