"""Gate policies: how much worse a candidate may be, per summary, before a gate fails.

A policy is a small YAML file (format in docs/reports.md), usually one per suite at
baselines/<suite>/policy.yaml, often written by `evalkit gate calibrate`:

    suite: smoke
    max_failure_rate: 0.02        # baseline or candidate items failing above this rate: exit 2
    min_items: 4                  # a required metric scored on fewer items cannot be judged: exit 2
    required: [wer, sim]          # metrics that must be judged (default: all the baseline scored and gates)
    default: {abs: 0.005, rel: 0.05}
    summaries:
      wer: {abs: 0.01}
      "wer[*]": {abs: 0.03}       # '*' matches any text; the longest matching pattern wins
      rtf: {rel: 0.25}
      duration_ratio: {gate: false}

A summary's tolerance is max(abs, rel * |baseline value|); an entry replaces the
default entirely (fields it omits are zero). A file's entries are added to the
built-in ones (DEFAULT_SUMMARIES: timings, per-tag WER, the wer_sub/del/ins split),
which it can override by name.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.gating.paired import DEFAULT_RESAMPLES, DEFAULT_SEED
from evalkit.textfile import parse_yaml, read_text
from evalkit.types import EvalkitError


@dataclass(frozen=True)
class Tolerance:
    abs: float = 0.0
    rel: float = 0.0
    gate: bool = True  # False: compared and reported, never fails the gate

    def allowed(self, baseline_value: float | None) -> float:
        """How far the candidate may move in the bad direction."""
        return max(self.abs, self.rel * abs(baseline_value or 0.0))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"abs": self.abs}  # written even when 0: "no tolerance" is a decision
        if self.rel:
            out["rel"] = self.rel
        if not self.gate:
            out["gate"] = False
        return out


# Without a policy file: half a point of an error rate or 5% of the baseline,
# whichever is larger, for quality summaries. Timings vary between machines of one
# model and between runs far more than quality does (shared CI runners, clocks,
# thermal state), so only a 25% slowdown that the interval confirms fails a gate.
# Per-tag WERs are over small subsets: twice the slack. The wer_sub/del/ins split of
# wer is shown, not gated: wer itself is, and gating its parts too would multiply the
# chances of a false alarm. Two percent of items failing means the candidate is
# broken, not worse. Stochastic systems should calibrate (evalkit gate calibrate).
DEFAULT_TOLERANCE = Tolerance(abs=0.005, rel=0.05)
DEFAULT_TIMING_TOLERANCE = Tolerance(rel=0.25)
DEFAULT_SUMMARIES = {
    "rtf": DEFAULT_TIMING_TOLERANCE,
    "throughput": DEFAULT_TIMING_TOLERANCE,
    "latency": DEFAULT_TIMING_TOLERANCE,
    "wer[*]": Tolerance(abs=0.01, rel=0.1),
    "wer_sub": Tolerance(gate=False),
    "wer_del": Tolerance(gate=False),
    "wer_ins": Tolerance(gate=False),
}
DEFAULT_MAX_FAILURE_RATE = 0.02
# The fewest scored items on which a required metric can be judged. A paired bootstrap
# over n items draws the resample that repeats the single most extreme item with
# probability n**-n; while that is at least the interval's tail (2.5%), the interval's
# edge is just that one item's delta: n = 3 gives 3.7%, n = 4 gives 0.4%.
DEFAULT_MIN_ITEMS = 4
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Policy:
    default: Tolerance = DEFAULT_TOLERANCE
    summaries: Mapping[str, Tolerance] = field(default_factory=lambda: dict(DEFAULT_SUMMARIES))
    # Metric names; None: every metric the baseline scored and gates (decision.required_metrics).
    required: tuple[str, ...] | None = None
    max_failure_rate: float = DEFAULT_MAX_FAILURE_RATE
    min_items: int = DEFAULT_MIN_ITEMS
    suite: str | None = None  # when set, the policy refuses candidates of other suites
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    confidence: float = CONFIDENCE
    source: str = "built-in default"
    calibration: Mapping[str, Any] | None = None  # written by `gate calibrate`; informational

    def tolerance_for(self, summary: str) -> Tolerance:
        """Exact name first, then the longest '*' pattern that matches, then the default."""
        if summary in self.summaries:
            return self.summaries[summary]
        patterns = sorted((p for p in self.summaries if "*" in p), key=len, reverse=True)
        for pattern in patterns:
            if re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), summary):
                return self.summaries[pattern]
        return self.default

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.suite:
            out["suite"] = self.suite
        out["max_failure_rate"] = self.max_failure_rate
        out["min_items"] = self.min_items
        if self.required is not None:
            out["required"] = list(self.required)
        out["default"] = self.default.to_json()
        out["summaries"] = {k: v.to_json() for k, v in self.summaries.items()}
        out.update(resamples=self.resamples, seed=self.seed, confidence=self.confidence)
        if self.calibration:
            out["calibration"] = dict(self.calibration)
        return out


_KEYS = {
    "suite", "max_failure_rate", "min_items", "required", "default", "summaries", "resamples", "seed", "confidence",
    "calibration",
}
_TOLERANCE_KEYS = {"abs", "rel", "gate"}


def _mapping(value: Any, allowed: set[str], where: str, not_a_mapping: str) -> Mapping[str, Any]:
    """`value` if it is a mapping whose keys are all allowed (a misspelt key must not be ignored)."""
    if not isinstance(value, Mapping):
        raise EvalkitError(f"{where}: {not_a_mapping}")
    unknown = set(value) - allowed
    if unknown:
        raise EvalkitError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return value


def _tolerance(value: Any, where: str) -> Tolerance:
    value = _mapping(value, _TOLERANCE_KEYS, where,
                     f"expected a mapping like {{abs: 0.01}} or {{rel: 0.1}}, got {value!r}")
    try:
        tol = Tolerance(abs=float(value.get("abs", 0.0)), rel=float(value.get("rel", 0.0)),
                        gate=bool(value.get("gate", True)))
    except (TypeError, ValueError):
        raise EvalkitError(f"{where}: abs and rel must be numbers") from None
    if tol.abs < 0 or tol.rel < 0:
        raise EvalkitError(f"{where}: tolerances cannot be negative")
    return tol


def policy_from_json(data: Any, source: str) -> Policy:
    data = _mapping(data, _KEYS, source, "a policy must be a YAML mapping")
    summaries = data.get("summaries") or {}
    if not isinstance(summaries, Mapping):
        raise EvalkitError(f"{source}: `summaries` must map summary names to tolerances")
    required = data.get("required")
    if required is not None and (not isinstance(required, list) or not all(isinstance(r, str) for r in required)):
        raise EvalkitError(f"{source}: `required` must be a list of metric names")
    try:
        rate = float(data.get("max_failure_rate", DEFAULT_MAX_FAILURE_RATE))
        min_items = int(data.get("min_items", DEFAULT_MIN_ITEMS))
        resamples = int(data.get("resamples", DEFAULT_RESAMPLES))
        confidence = float(data.get("confidence", CONFIDENCE))
        seed = int(data.get("seed", DEFAULT_SEED))
    except (TypeError, ValueError):
        raise EvalkitError(f"{source}: max_failure_rate, min_items, resamples, seed and confidence must be "
                           "numbers") from None
    if not 0 <= rate <= 1 or resamples < 2000 or not 0.5 <= confidence < 1 or min_items < 2:
        raise EvalkitError(f"{source}: need 0 <= max_failure_rate <= 1, min_items >= 2, resamples >= 2000, "
                           "0.5 <= confidence < 1")
    return Policy(
        default=_tolerance(data.get("default", DEFAULT_TOLERANCE.to_json()), f"{source}: default"),
        # Entries add to (and override) the built-in ones, so a policy that only
        # names wer does not silently gate RTF at quality tolerances.
        summaries={**DEFAULT_SUMMARIES,
                   **{str(k): _tolerance(v, f"{source}: summaries.{k}") for k, v in summaries.items()}},
        required=None if required is None else tuple(required),
        max_failure_rate=rate,
        min_items=min_items,
        suite=data.get("suite"),
        resamples=resamples,
        seed=seed,
        confidence=confidence,
        source=source,
        calibration=data.get("calibration"),
    )


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    data = parse_yaml(read_text(path, label="policy"), f"policy {path}")
    return policy_from_json(data, str(path))


def dump_policy(policy: Policy, header: str = "") -> str:
    """YAML text of a policy (with an optional comment header)."""
    import yaml

    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + yaml.safe_dump(policy.to_json(), sort_keys=False, default_flow_style=None, width=100)
