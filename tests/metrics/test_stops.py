"""The `stops` metric: how AR decoding ended, from the extras a system reports (docs/metrics.md)."""
import numpy as np
import pytest

from evalkit.metrics.base import ScoreInput
from evalkit.metrics.stops import DecodingStops, stop_record
from evalkit.types import Item, ItemError, Synthesis


def score_input(item_id: str, extras: dict) -> ScoreInput:
    audio = np.zeros(2400, dtype=np.float32)
    return ScoreInput(Item(item_id, "Some text."), audio, 24000, "0" * 64, Synthesis(audio, 24000, 1.0, {}, extras))


def test_records_follow_the_extras_contract():
    tortoise_like = {"chosen_stop_reason": "stop_token", "stop_reasons": {"stop_token": 14, "max_length": 2},
                     "silence_dropped_codes": 37}
    assert stop_record(tortoise_like) == {"max_length": False, "candidates": 16, "candidates_max_length": 2,
                                          "dropped_codes": 37}
    assert stop_record({"chosen_stop_reason": "max_length"}) == {"max_length": True}  # optional keys absent
    for bad in ({"chosen_stop_reason": "eos"}, {"chosen_stop_reason": "stop_token", "stop_reasons": {"eos": 1}},
                {"chosen_stop_reason": "stop_token", "stop_reasons": {"max_length": -1}}):
        with pytest.raises(ValueError):
            stop_record(bad)


def test_scoring_names_bad_items_and_skips_systems_without_stop_reasons():
    metric = DecodingStops()
    plain = score_input("espeak-item", {})
    assert "no stop reason" in metric.not_applicable(plain)
    good = score_input("a", {"chosen_stop_reason": "max_length", "stop_reasons": {"max_length": 3, "stop_token": 1}})
    bad = score_input("b", {"chosen_stop_reason": "eos"})
    assert metric.not_applicable(good) is None
    value, error = metric.score([good, bad])
    assert value == {"max_length": True, "candidates": 4, "candidates_max_length": 3}
    assert isinstance(error, ItemError) and "'b'" in error.message and "eos" in error.message


def test_rates_over_items_and_candidates():
    values = [stop_record(e) for e in (
        {"chosen_stop_reason": "stop_token", "stop_reasons": {"stop_token": 16, "max_length": 0},
         "silence_dropped_codes": 0},
        {"chosen_stop_reason": "max_length", "stop_reasons": {"stop_token": 4, "max_length": 12},
         "silence_dropped_codes": 0},
        {"chosen_stop_reason": "stop_token", "stop_reasons": {"stop_token": 10, "max_length": 6},
         "silence_dropped_codes": 9},
        {"chosen_stop_reason": "stop_token"},  # a system that reports only the chosen output's end
    )]
    s = DecodingStops().aggregate(values, failed=[Item("f", "x")])
    assert s["max_length_rate"].value == pytest.approx(1 / 4) and s["max_length_rate"].extra["count"] == 1
    assert s["candidate_max_length_rate"].value == pytest.approx(18 / 48) and s["candidate_max_length_rate"].n == 3
    assert s["speech_dropped_rate"].value == pytest.approx(1 / 3)
    assert s["speech_dropped_rate"].extra["dropped_codes"] == 9
    assert all(summary.n_failed == 1 and summary.higher_is_better is False for summary in s.values())
    only_chosen = DecodingStops().aggregate([values[3]], failed=[])
    assert set(only_chosen) == {"max_length_rate"}  # no candidate counts, no silence cut: no such rows
