"""A run reduced to what a paired comparison needs; also the baseline file format.

A Snapshot holds a run's provenance (what must match for two runs to be comparable),
its metrics.json summaries, and for every gateable summary the per-item paired terms
(item id -> (numerator, denominator), see Metric.paired_terms). It is built from a run
directory, or read from a saved baseline file, so a gate treats both the same way.

Terms are recomputed from samples.jsonl by each metric's own paired_terms (metrics are
instantiated from run.json: the class at its recorded import path, plugins included,
with its recorded options; no model is loaded), so a snapshot of a run reproduces its
metrics.json values exactly.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.types import EvalkitError, Item

SCHEMA_VERSION = 1
KIND = "evalkit-baseline"
# The summary fields a comparison reads; the rest of metrics.json is descriptive.
SUMMARY_FIELDS = ("value", "n", "n_failed", "n_not_applicable", "higher_is_better", "ci95", "metric",
                  "metric_version", "main")

Terms = Mapping[str, tuple[float, float]]  # item id -> (numerator, denominator)


@dataclass(frozen=True)
class Snapshot:
    source: str  # the run directory or baseline file this was read from
    run_id: str
    created: str | None
    suite: Mapping[str, Any]  # name, version, content_hash, n_items, main_metric
    system: Mapping[str, Any]  # name, options, checkpoints {component: sha256}
    protocol: str
    seed: int | None
    git: Mapping[str, Any]
    device: str
    hardware: Mapping[str, Any]
    metrics: Mapping[str, Mapping[str, Any]]  # metric name -> provenance (run.json "metrics")
    hardware_bound: frozenset[str]  # metrics whose values depend on the machine (they require timings)
    counts: Mapping[str, Any]  # n_items (planned), n_done, n_failed, complete, failures
    item_ids: tuple[str, ...]  # items with a record, in run order
    summaries: Mapping[str, Mapping[str, Any]]  # summary name -> SUMMARY_FIELDS
    terms: Mapping[str, Terms]  # summary name -> paired terms (gateable summaries only)

    @property
    def machine(self) -> str:
        """What timing numbers depend on: the GPU model for CUDA runs, else the CPU
        model and core count (RTF on CPU scales with cores, so 2 and 16 cores of the
        same model are different machines)."""
        hw = self.hardware
        if str(self.device).startswith("cuda"):
            return f"GPU {hw.get('gpu')}"
        return f"CPU {hw.get('cpu')} x{hw.get('cpu_count')}"

    @property
    def headline(self) -> str:
        """The summary this run leads with (evalkit.summary.headline): the same name as
        metrics.json's main_metric."""
        from evalkit.summary import headline

        return headline(dict(self.summaries), self.suite.get("main_metric")) or "wer"

    @property
    def label(self) -> str:
        return f"{self.system.get('name')}/{self.run_id}"

    def to_json(self) -> dict[str, Any]:
        """The baseline file format (docs/reports.md): item ids once, then per summary
        one [numerator, denominator] pair per item id (null where the item has none)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": KIND,
            "run_id": self.run_id,
            "created": self.created,
            "suite": dict(self.suite),
            "system": dict(self.system),
            "protocol": self.protocol,
            "seed": self.seed,
            "git": dict(self.git),
            "device": self.device,
            "hardware": dict(self.hardware),
            "metrics": {k: dict(v) for k, v in self.metrics.items()},
            "hardware_bound": sorted(self.hardware_bound),
            "counts": dict(self.counts),
            "summaries": {k: dict(v) for k, v in self.summaries.items()},
            "item_ids": list(self.item_ids),
            "terms": {
                name: [[_compact(terms[i][0]), _compact(terms[i][1])] if i in terms else None for i in self.item_ids]
                for name, terms in self.terms.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str) -> Snapshot:
        if not isinstance(data, Mapping) or data.get("kind") != KIND:
            raise EvalkitError(f"{source}: not an evalkit baseline file (expected \"kind\": \"{KIND}\")")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise EvalkitError(f"{source}: baseline schema version {data.get('schema_version')} "
                               f"(this evalkit reads {SCHEMA_VERSION})")
        try:
            ids = tuple(data["item_ids"])
            terms = {}
            for name, rows in data["terms"].items():
                if len(rows) != len(ids):
                    raise ValueError(f"terms of {name!r} have {len(rows)} rows for {len(ids)} item ids")
                terms[name] = {i: (float(r[0]), float(r[1])) for i, r in zip(ids, rows) if r is not None}
            return cls(
                source=source, run_id=data["run_id"], created=data.get("created"), suite=data["suite"],
                system=data["system"], protocol=data["protocol"], seed=data.get("seed"), git=data.get("git", {}),
                device=data["device"], hardware=data["hardware"], metrics=data["metrics"],
                hardware_bound=frozenset(data.get("hardware_bound", ())), counts=data["counts"], item_ids=ids,
                summaries=data["summaries"], terms=terms,
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise EvalkitError(f"{source}: damaged baseline file ({type(exc).__name__}: {exc})") from None


def _compact(x: float) -> float | int:
    """3.0 -> 3 (edit counts and word counts dominate the terms; keeps files small)."""
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else x


def snapshot_run(run_dir: str | Path) -> Snapshot:
    """Snapshot of a run directory (finished or not: `counts` says which)."""
    from evalkit.store import load_run

    info, records, summary = load_run(run_dir)
    return snapshot_from(info, records, summary, str(run_dir))


def snapshot_from(info: Mapping[str, Any], records: list[dict[str, Any]], summary: Mapping[str, Any] | None,
                  source: str) -> Snapshot:
    """Snapshot of a loaded run (run.json, samples, metrics.json)."""
    if summary is None:
        raise EvalkitError(f"{source}: no metrics.json yet (the run has not finished an invocation)")
    metrics, hardware_bound, terms = _paired_terms(info, records, source)
    checkpoints = info["system"].get("checkpoints") or {}
    return Snapshot(
        source=source,
        run_id=info["run_id"],
        created=info.get("created"),
        suite={k: info["suite"].get(k) for k in ("name", "version", "content_hash", "n_items", "main_metric")},
        system={"name": info["system"]["name"], "options": info["system"].get("options", {}),
                "checkpoints": {k: (v or {}).get("sha256") for k, v in checkpoints.items()}},
        protocol=info["protocol"],
        seed=info.get("seed"),
        git=info.get("git") or {},
        device=info.get("device", "cpu"),
        hardware=info.get("hardware") or {},
        metrics=metrics,
        hardware_bound=hardware_bound,
        counts={k: summary.get(k) for k in ("n_items", "n_done", "n_failed", "complete", "failures")},
        item_ids=tuple(r["item_id"] for r in records),
        summaries={name: {k: s.get(k) for k in SUMMARY_FIELDS} for name, s in summary["metrics"].items()},
        terms=terms,
    )


def _paired_terms(info: Mapping[str, Any], records: list[dict[str, Any]], where: str):
    """(metric provenance by name, hardware-bound metric names, terms by summary)."""
    from evalkit.metrics.base import failed_for
    from evalkit.registry import METRICS

    # Systems that generate nothing (ground truth, audio-dir) record no timing for any
    # item; any item with a timing means the system generates. (If every item failed
    # the question does not matter: the failure rate alone decides that gate.)
    generates = any(r.get("timing") for r in records)
    items = record_items(info, records)
    targets = (info.get("targets") or {}).get("metrics") or {}
    provenance, bound, terms = {}, set(), {}
    for prov in info.get("metrics", []):
        name = prov["name"]
        try:  # the class the run recorded (plugins included), else the built-in of that name
            metric_class = METRICS.recorded(name, targets.get(name))
        except EvalkitError as exc:
            raise EvalkitError(f"{where}: metric {name!r} from run.json cannot be rebuilt: {exc}") from None
        # Options the metric no longer has are dropped: terms come from stored values, and
        # whether two runs used the same options is the provenance check's question.
        known = metric_class.default_options()
        try:
            metric = metric_class(**{k: v for k, v in prov.get("options", {}).items() if k in known})
        except (ValueError, EvalkitError) as exc:
            raise EvalkitError(f"{where}: metric {name!r} from run.json cannot be rebuilt: {exc}") from None
        provenance[name] = prov
        if "timings" in metric.requires:
            bound.add(name)
        values = {r["item_id"]: r["scores"][name] for r in records if name in (r.get("scores") or {})}
        failed = {r["item_id"]: items[r["item_id"]] for r in records
                  if failed_for(metric, items[r["item_id"]], r, generates)}
        for summary, per_item in metric.paired_terms(values, failed).items():
            terms[summary] = {k: (float(n), float(d)) for k, (n, d) in per_item.items()}
    return provenance, frozenset(bound), terms


def record_items(info: Mapping[str, Any], records: list[dict[str, Any]]) -> dict[str, Item]:
    """Items of a run's records. Text and tags are in samples.jsonl; whether an item had
    a speaker prompt or ground truth is only in the suite, and matters only for items
    whose generation failed (it decides which metrics count the failure), so the suite
    is loaded only when such items exist."""
    items = {r["item_id"]: Item(id=r["item_id"], text=r.get("text") or "", tags=tuple(r.get("tags") or ()))
             for r in records}
    failed = [r["item_id"] for r in records if r.get("error")]
    if failed:
        suite = suite_items(info)
        if suite is None:
            raise EvalkitError(
                f"run {info.get('run_id')}: {len(failed)} item(s) failed to generate, and deciding which metrics "
                f"count those failures needs suite {info['suite'].get('name')!r} with content hash "
                f"{str(info['suite'].get('content_hash'))[:12]}, which cannot be loaded here"
            )
        items.update({i: suite[i] for i in failed if i in suite})
    return items


def suite_items(info: Mapping[str, Any]) -> dict[str, Item] | None:
    """The suite items a run was made from, by id: the suite is loaded from run.json's
    spec path, else by name, and used only if its content hash is the run's (None
    otherwise, e.g. a run copied from a machine with other data)."""
    from evalkit.suites import load_suite

    suite_info = info.get("suite") or {}
    refs = [suite_info.get("spec"), suite_info.get("name")]
    for ref in (r for r in refs if r):
        if ref == suite_info.get("spec") and not Path(ref).is_file():
            continue
        try:
            suite = load_suite(ref)
        except EvalkitError:
            continue
        if suite.content_hash == suite_info.get("content_hash"):
            return {item.id: item for item in suite.items}
    return None
