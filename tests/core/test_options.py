"""Options of systems and metrics: one frozen dataclass each, validated in evalkit.options."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Literal

import pytest

from evalkit.options import build_options, describe_options, option_defaults, options_json
from evalkit.registry import METRICS, SYSTEMS
from evalkit.types import EvalkitError


def declared(registry):
    """(name, class) of every built-in whose options are an Options dataclass."""
    out = []
    for name in registry.names():
        cls = registry.get(name)
        if getattr(cls, "Options", None) is not None:
            out.append(pytest.param(name, cls, id=name))
    return out


# The built-ins that take options declare them (tortoise keeps its preset-aware TortoiseOptions).
@pytest.mark.parametrize("name", ["wer", "sim", "clvp", "utmos", "dnsmos"])
def test_builtin_metrics_declare_their_options(name):
    assert METRICS.get(name).Options is not None


@pytest.mark.parametrize("name", ["espeak", "audio-dir"])
def test_builtin_systems_declare_their_options(name):
    assert SYSTEMS.get(name).Options is not None


@pytest.mark.parametrize("name, cls", declared(METRICS) + declared(SYSTEMS))
def test_options_are_frozen_and_their_json_round_trips(name, cls):
    defaults = cls.default_options()
    assert defaults == option_defaults(cls.Options)
    assert json.loads(json.dumps(defaults)) == defaults  # what run.json records reads back equal
    opts = build_options("x", name, cls.Options, defaults)  # run.json's options rebuild the same instance
    assert opts == cls.Options()
    assert options_json(opts) == defaults
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(opts, dataclasses.fields(opts)[0].name, None)


def test_unknown_option_is_named_with_the_known_ones():
    with pytest.raises(EvalkitError, match=r"metric 'wer' has no option\(s\) \['beam'\]; known: .*'beam_size'"):
        METRICS.get("wer")(beam="5")


@pytest.mark.parametrize("option, value, expected", [
    ("beam_size", "5", "an integer"),
    ("beam_size", True, "an integer"),  # a YAML `true` is not 1
    ("patience", "1.0", "a number"),
    ("without_timestamps", 1, "true or false"),
    ("language", 3, "a string or null"),
    ("main", "mean", 'one of "corpus", "macro"'),
    ("temperatures", 0.2, r"a list \(each a number\)"),
])
def test_wrong_type_names_metric_option_value_and_expectation(option, value, expected):
    with pytest.raises(EvalkitError, match=rf"metric 'wer': option {option}={value!r}".replace("(", r"\(")
                       + rf".* must be {expected}"):
        METRICS.get("wer")(**{option: value})


def test_values_are_coerced_as_the_command_line_gives_them():
    wer = METRICS.get("wer")(patience=2, temperatures=[0, 0.2])
    assert wer.opts.patience == 2.0 and isinstance(wer.opts.patience, float)
    assert wer.opts.temperatures == (0.0, 0.2)
    assert wer.options["temperatures"] == [0.0, 0.2]  # JSON form: what run.json and cache keys see


def test_dataclass_checks_become_the_same_error():
    with pytest.raises(EvalkitError, match="metric 'sim': option audio_input must be one of"):
        METRICS.get("sim")(audio_input="nope")
    with pytest.raises(EvalkitError, match="system 'espeak': option pitch=120: expected 0 to 99"):
        SYSTEMS.get("espeak")(pitch=120)
    with pytest.raises(EvalkitError, match="metric 'clvp': option checkpoints: components are clvp and dvae"):
        METRICS.get("clvp")(checkpoints={"vocoder": "x.pth"})


def test_literal_keeps_bools_apart_from_ints():
    @dataclass(frozen=True)
    class Opts:
        mode: Literal["auto", True, False] = "auto"

    assert build_options("metric", "m", Opts, {"mode": True}).mode is True
    with pytest.raises(EvalkitError, match="option mode=1 must be"):
        build_options("metric", "m", Opts, {"mode": 1})


def test_options_must_be_a_frozen_dataclass():
    @dataclass
    class Loose:
        x: int = 0

    with pytest.raises(TypeError, match="frozen dataclass"):
        build_options("metric", "m", Loose, {})


def test_describe_lists_every_field_in_order():
    rows = describe_options(METRICS.get("sim").Options)
    assert [r[0] for r in rows] == [f.name for f in dataclasses.fields(METRICS.get("sim").Options)]
    assert ("embedder", 'one of "ecapa", "wavlm-ecapa"', "ecapa") in rows


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=120)


def test_cli_shows_the_options_from_the_same_definition():
    res = run_cli("metrics", "options", "wer", "--json")
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert {k: v["default"] for k, v in shown.items()} == METRICS.get("wer").default_options()
    assert shown["main"]["type"] == 'one of "corpus", "macro"'
    text = run_cli("systems", "options", "espeak")
    assert text.returncode == 0 and "pitch" in text.stdout and "an integer or null" in text.stdout


def test_cli_metric_option_of_a_plugin_metric_splits_at_the_last_dot():
    from argparse import Namespace

    from evalkit.commands.run import _metric_options

    args = Namespace(metric_option=["evalkit_demo_plugin.metrics:Loudness.target=-20", "wer.beam_size=5"])
    assert _metric_options(args) == {"evalkit_demo_plugin.metrics:Loudness": {"target": -20},
                                     "wer": {"beam_size": 5}}


def test_a_plugin_subclass_that_adds_options_the_old_way_keeps_working():
    from evalkit.systems.espeak import EspeakSystem

    class Jittery(EspeakSystem):
        name = "jittery"

        @classmethod
        def default_options(cls):
            return {**super().default_options(), "jitter": 0.06}

    from evalkit.options import declares_options

    assert declares_options(EspeakSystem) and not declares_options(Jittery)  # `options NAME` lists jitter too
    system = Jittery(jitter=0.1, speed=140)
    assert system.options == {"voice": "en-us", "speed": 140, "pitch": None, "jitter": 0.1}
    assert system.opts.speed == 140  # the parent's options are still its validated dataclass
    with pytest.raises(EvalkitError, match="option speed='x' must be an integer"):
        Jittery(speed="x")
    with pytest.raises(EvalkitError, match=r"has no option\(s\) \['jiter'\]"):
        Jittery(jiter=0.1)


def test_a_suite_pins_metric_options_under_the_command_line(tmp_path):
    from core_helpers import write_suite

    from evalkit.api import build_metrics
    from evalkit.suites import load_suite

    path = write_suite(tmp_path, [{"id": "a", "text": "A sentence."}], metrics=["wer", "duration"],
                       metric_options="{wer: {main: macro, beam_size: 2}}")
    suite = load_suite(str(path))
    wer, _ = build_metrics(("wer", "duration"), "evalkit", "cpu", {}, suite)
    assert wer.opts.main == "macro" and wer.opts.beam_size == 2
    wer, _ = build_metrics(("wer", "duration"), "evalkit", "cpu", {"wer": {"beam_size": 5}}, suite)
    assert wer.opts.main == "macro" and wer.opts.beam_size == 5  # --metric-option wins
    (duration,) = build_metrics(("duration",), "evalkit", "cpu", {}, suite)  # not run: its options unused
    assert duration.name == "duration"


def test_a_suites_wrong_metric_option_names_the_suite_file(tmp_path):
    from core_helpers import write_suite

    from evalkit.api import build_metrics
    from evalkit.suites import load_suite
    from evalkit.suites.spec import SuiteError

    path = write_suite(tmp_path / "a", [{"id": "a", "text": "A sentence."}], metrics=["wer"],
                       metric_options="{wer: {main: mean}}")
    with pytest.raises(EvalkitError, match=rf"{path}: metric_options: metric 'wer': option main='mean' must be"):
        build_metrics(("wer",), "evalkit", "cpu", {}, load_suite(str(path)))
    path = write_suite(tmp_path / "b", [{"id": "a", "text": "A sentence."}], metric_options="[wer]")
    with pytest.raises(SuiteError, match="metric_options must map metric names to mappings"):
        load_suite(str(path))
