"""How autoregressive decoding ended: the failure modes WER averages away.

An autoregressive TTS model ends an utterance by emitting a stop token. When it never
does, the output is cut at the length limit: a runaway or babbling sample, the classic
failure of a badly trained AR checkpoint, and one that a CI gate on a new checkpoint
should catch directly. TorToiSe adds a second, quieter one: its "silence truncation"
cuts the diffusion decoder's input at the first run of more than 8 calm codes, so a long
pause inside the speech drops every word after it (docs/tortoise.md).

Systems report these per item in their extras (TorToiSe does; any AR system can):

    chosen_stop_reason      "stop_token" or "max_length" (required: without it the metric
                            is not applicable to the item)
    stop_reasons            {"stop_token": n, "max_length": m} over all sampled candidates
    silence_dropped_codes   speech codes generated before the stop token that a cut discarded

Summaries (rates over items; lower is better):
- ``max_length_rate``: outputs cut at the length limit (no stop token);
- ``candidate_max_length_rate``: the same over every sampled candidate (sum over items of
  cut candidates / sum of candidates), a more sensitive signal than the chosen output's;
- ``speech_dropped_rate``: outputs that lost speech to a silence cut.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from evalkit.metrics.base import Metric, ScoreInput, Summary, summary_of_terms
from evalkit.types import Item, ItemError

STOP_REASONS = ("stop_token", "max_length")


def stop_record(extras: Mapping[str, Any]) -> dict[str, Any]:
    """The per-item value from a system's extras; ValueError for values outside the contract."""
    reason = extras["chosen_stop_reason"]
    if reason not in STOP_REASONS:
        raise ValueError(f"chosen_stop_reason {reason!r} is not one of {STOP_REASONS}")
    record: dict[str, Any] = {"max_length": reason == "max_length"}
    counts = extras.get("stop_reasons")
    if counts is not None:
        if set(counts) - set(STOP_REASONS) or any(int(n) < 0 for n in counts.values()):
            raise ValueError(f"stop_reasons {counts!r}: expected counts of {STOP_REASONS}")
        record["candidates"] = sum(int(n) for n in counts.values())
        record["candidates_max_length"] = int(counts.get("max_length", 0))
    dropped = extras.get("silence_dropped_codes")
    if dropped is not None:
        record["dropped_codes"] = int(dropped)
    return record


class DecodingStops(Metric):
    name = "stops"
    version = "1"
    description = "AR decoding ends: outputs cut at the length limit, speech lost to TorToiSe's silence cut"
    higher_is_better = False
    cacheable = False  # reads the generation's extras, not the audio; and costs nothing
    batch_size = 1024

    def not_applicable(self, inp: ScoreInput) -> str | None:
        if "chosen_stop_reason" not in inp.synthesis.extras:
            return "the system reports no stop reason (extras.chosen_stop_reason)"
        return super().not_applicable(inp)

    def score(self, batch: Sequence[ScoreInput]) -> list[dict[str, Any] | ItemError]:
        out: list[dict[str, Any] | ItemError] = []
        for inp in batch:
            try:
                out.append(stop_record(inp.synthesis.extras))
            except (TypeError, ValueError) as exc:
                out.append(ItemError("BadExtras", f"item {inp.item.id!r}: {exc}", f"score:{self.name}"))
        return out

    def paired_terms(self, values, failed):
        terms = {
            "max_length_rate": {k: (float(v["max_length"]), 1.0) for k, v in values.items()},
            "candidate_max_length_rate": {k: (float(v["candidates_max_length"]), float(v["candidates"]))
                                          for k, v in values.items() if v.get("candidates")},
            "speech_dropped_rate": {k: (float(v["dropped_codes"] > 0), 1.0)
                                    for k, v in values.items() if "dropped_codes" in v},
        }
        return {name: t for name, t in terms.items() if t or name == "max_length_rate"}

    def aggregate(self, values: Sequence[Mapping[str, Any]], failed: Sequence[Item]) -> dict[str, Summary]:
        terms = self.paired_terms(dict(enumerate(values)), {})
        extras = {
            "max_length_rate": {"count": sum(v["max_length"] for v in values)},
            "candidate_max_length_rate": {"candidates": sum(v.get("candidates", 0) for v in values)},
            "speech_dropped_rate": {"dropped_codes": sum(v.get("dropped_codes", 0) for v in values)},
        }
        return {name: summary_of_terms(t, len(failed), False, **extras[name]) for name, t in terms.items()}
