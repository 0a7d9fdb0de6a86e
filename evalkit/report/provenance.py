"""A run's provenance as its page shows it: titled key/value tables, not JSON strings.

run.json holds what produced the numbers (evalkit.provenance collects it). Here each
part becomes a section -- run, evalkit, hardware, system, checkpoints, suite, one per
metric (model, weights sha256, normalizer, decoding options), packages -- of entries
whose values are text, or, for a nested mapping, a small table of their own. Values
are JSON's spelling of non-strings (true, null, 0.6) and strings as they are; the
template autoescapes all of it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evalkit.report.runs import RunData


@dataclass(frozen=True)
class Entry:
    key: str
    text: str = ""
    children: tuple[Entry, ...] = ()  # a nested mapping (or list of mappings), shown as a table


@dataclass(frozen=True)
class Section:
    title: str
    summary: str  # one line beside the title: what matters most when the table is folded
    entries: tuple[Entry, ...]


def scalar_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def entry(key: str, value: Any) -> Entry:
    """A section's entry: a nested mapping (or list of them) becomes a small table whose
    own nested values are flattened to dotted keys (asr: weights.sha256, decoding.beam_size):
    one level of tables reads well, three do not."""
    if _nested(value):
        children = tuple(Entry(k, text) for k, text in flatten(value))
        return Entry(key, "" if children else scalar_text(value), children)
    return Entry(key, _text(value))


def _nested(value: Any) -> bool:
    return isinstance(value, Mapping) or (isinstance(value, (list, tuple)) and any(
        isinstance(v, (Mapping, list, tuple)) for v in value))


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(scalar_text(v) for v in value) if value else "[]"
    return scalar_text(value) if not isinstance(value, Mapping) else "{}"


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, text) of every leaf of nested mappings and lists of mappings."""
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    out = []
    for k, v in items:
        key = f"{prefix}{k}"
        if _nested(v) and v:
            out += flatten(v, key + ".")
        else:
            out.append((key, _text(v)))
    return out


def entries(mapping: Mapping[str, Any], skip: tuple[str, ...] = ()) -> tuple[Entry, ...]:
    return tuple(entry(str(k), v) for k, v in mapping.items() if k not in skip)


def _short_sha(value: Any) -> str:
    return str(value)[:12] if value else "?"


def metric_summary(prov: Mapping[str, Any]) -> str:
    """model · normalizer · weights sha256 prefix: the parts a reader compares between runs."""
    asr = prov.get("asr") or {}
    options = prov.get("options") or {}
    weights = prov.get("weights") or asr.get("weights") or {}
    normalizer = prov.get("normalizer")
    parts = [
        f"v{prov.get('version')}",
        asr.get("model") or options.get("model"),
        normalizer.get("name") if isinstance(normalizer, Mapping) else normalizer,
        f"weights {_short_sha(weights.get('sha256'))}" if weights else None,
    ]
    return " · ".join(str(p) for p in parts if p)


def sections(run: RunData) -> list[Section]:
    info, system, suite = run.info, run.info["system"], run.info["suite"]
    git = info.get("git") or {}
    hardware = info.get("hardware") or {}
    out = [
        Section("run", f"{info['run_id']} · seed {info.get('seed')}", (
            Entry("run id", str(info["run_id"])), Entry("created", str(info.get("created"))),
            Entry("seed", scalar_text(info.get("seed"))),
            Entry("invocations", str(len(info.get("invocations") or []))),
            Entry("command", info.get("command") or ""))),
        Section("evalkit", f"{info.get('evalkit_version')} · git {str(git.get('sha'))[:12]}"
                + (" (dirty)" if git.get("dirty") else ""), (
            Entry("version", str(info.get("evalkit_version"))), entry("git", git),
            Entry("python", str(info.get("python"))))),
        Section("hardware", f"{info.get('device')} · {hardware.get('gpu') or hardware.get('cpu')}",
                (Entry("device", str(info.get("device"))), *entries(hardware))),
        Section("system", " · ".join(str(p) for p in (system.get("name"), system.get("version")) if p),
                entries(system, skip=("checkpoints",))),
    ]
    checkpoints = system.get("checkpoints") or {}
    if checkpoints:
        out.append(Section("checkpoints", ", ".join(f"{k} {_short_sha((v or {}).get('sha256'))}"
                                                     for k, v in checkpoints.items()),
                           tuple(entry(str(k), v or {}) for k, v in checkpoints.items())))
    out.append(Section("suite", f"{suite['name']} v{suite['version']} · {suite.get('n_items')} items",
                       (*entries(suite), Entry("protocol", str(info.get("protocol"))))))
    for prov in info.get("metrics") or []:
        out.append(Section(f"metric {prov.get('name')}", metric_summary(prov), entries(prov, skip=("name",))))
    packages = info.get("packages") or {}
    out.append(Section("packages", f"{sum(v is not None for v in packages.values())} recorded",
                       tuple(Entry(str(k), "not installed" if v is None else str(v)) for k, v in packages.items())))
    return out
