"""metrics.json from samples.jsonl: summaries are always recomputed from stored
per-item values, so a resumed or merged run reports exactly what a single run would.
The file's records are evalkit.schema.RunMetrics and SummaryRow (docs/run-directory.md).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from evalkit.metrics.base import Metric, aggregate_with_counts, failed_for
from evalkit.schema import RunMetrics, SummaryRow
from evalkit.summary import headline
from evalkit.types import Item


def not_applicable_for(metric: Metric, item: Item, record: dict[str, Any], system_generates: bool) -> bool:
    """Was this item outside the metric's reach: judged not applicable when scored, or a
    failed item that the metric would not have applied to (see failed_for)?"""
    if metric.name in record.get("not_applicable", {}):
        return True
    return record.get("error") is not None and not failed_for(metric, item, record, system_generates)


def aggregate(
    metrics: Sequence[Metric],
    records: dict[str, dict[str, Any]],
    planned: Sequence[Item],
    system_generates: bool,
) -> dict[str, SummaryRow]:
    """Summaries by name, each tagged with the metric that produced it."""
    out: dict[str, SummaryRow] = {}
    present = [(item, records[item.id]) for item in planned if item.id in records]
    for metric in metrics:
        values = [rec["scores"][metric.name] for _, rec in present if metric.name in rec.get("scores", {})]
        failed = [item for item, rec in present if failed_for(metric, item, rec, system_generates)]
        skipped = [item for item, rec in present if not_applicable_for(metric, item, rec, system_generates)]
        for name, summary in aggregate_with_counts(metric, values, failed, skipped).items():
            out[name] = SummaryRow.of(name, summary, metric.name, metric.version)
    return out


def run_summary(
    run_id: str,
    suite,
    system_name: str,
    protocol: str,
    metrics: Sequence[Metric],
    records: dict[str, dict[str, Any]],
    planned: Sequence[Item],
    system_generates: bool,
) -> RunMetrics:
    done = [records[i.id] for i in planned if i.id in records]
    summaries = aggregate(metrics, records, planned, system_generates)
    failures = Counter(r["error"]["stage"] for r in done if r.get("error"))
    for r in done:
        for err in r.get("metric_errors", {}).values():
            failures[err["stage"]] += 1
    return RunMetrics(
        run_id=run_id,
        suite={k: suite.describe()[k] for k in ("name", "version", "content_hash")},
        system=system_name,
        protocol=protocol,
        main_metric=headline({name: row.to_json() for name, row in summaries.items()}, suite.spec.main_metric),
        n_items=len(planned),
        n_done=len(done),
        n_failed=sum(1 for r in done if r.get("error")),
        complete=len(done) == len(planned),
        failures=dict(failures),
        summaries=summaries,
    )
