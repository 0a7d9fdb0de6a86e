"""Runs for the gate tests, made once per session by the real runner.

Most runs score only rtf and duration (sub-second with espeak-ng). A seeded espeak
plugin stands in for a sampling TTS: its speaking rate and pitch follow the item seed
and it reports a modeled synthesis time and latency, so seed-to-seed noise is real but the same
on every machine (a gate test must not depend on how busy the CI runner is).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST_METRICS = ("rtf", "duration")

PLUGIN = '''
import random
from evalkit.systems.espeak import EspeakSystem, speak
from evalkit.types import Synthesis

class SeededEspeak(EspeakSystem):
    """espeak whose rate and pitch vary with the item seed, like a sampling TTS."""
    name = "seeded-espeak"

    @classmethod
    def default_options(cls):
        # jitter: relative spread of rate and modeled time; cost: modeled RTF;
        # drop_words: words left out of the end of every text (a broken front end).
        return {**super().default_options(), "speed": 140, "jitter": 0.06, "cost": 0.5, "drop_words": 0}

    def synthesize(self, items, seeds):
        out = []
        j = self.options["jitter"]
        for item, seed in zip(items, seeds):
            rng = random.Random(seed)
            speed = round(self.options["speed"] * (1 + rng.uniform(-j, j)))
            words = item.text.split()
            text = " ".join(words[: max(1, len(words) - self.options["drop_words"])])
            audio, rate = speak(text, self.options["voice"], speed, rng.randint(35, 65))
            seconds = self.options["cost"] * len(audio) / rate * (1 + rng.uniform(-j, j))
            stages = {"text": 0.1 * seconds, "acoustic": 0.6 * seconds, "vocoder": 0.3 * seconds}
            out.append(Synthesis(audio=audio, sample_rate=rate, seconds=seconds, stages=stages,
                                 extras={"latency_seconds": seconds}))
        return out
'''


@pytest.fixture(autouse=True)
def no_repository_baselines(tmp_path, monkeypatch):
    """Gates in these tests see only the baselines and policies a test writes, not the
    repository's baselines/ (whose smoke policy would apply to the smoke-suite runs)."""
    monkeypatch.setenv("EVALKIT_BASELINES", str(tmp_path / "baselines"))


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    plugin_dir = tmp_path_factory.mktemp("gate-plugin")
    (plugin_dir / "evalkit_gate_plugin.py").write_text(PLUGIN)
    sys.path.insert(0, str(plugin_dir))
    return tmp_path_factory.mktemp("gate-runs")


@pytest.fixture(scope="session")
def make_run(runs_dir, espeak):
    """make_run(name, **EvalConfig fields) -> run directory (made once per session)."""
    from evalkit.api import EvalConfig, evaluate

    def make(name: str, **config) -> Path:
        out = runs_dir / name
        if not (out / "metrics.json").exists():
            config.setdefault("metrics", FAST_METRICS)
            evaluate(EvalConfig(out=out, quiet=True, **config))
        return out

    return make


SEEDED = "evalkit_gate_plugin:SeededEspeak"


@pytest.fixture(scope="session")
def seeded_run(make_run):
    """seeded_run(seed, **system options) -> run of the seeded espeak on the smoke suite."""
    def make(seed: int, **options) -> Path:
        label = "-".join(f"{k}{v}" for k, v in sorted(options.items()))
        return make_run(f"seeded-{seed}{'-' + label if label else ''}", suite="smoke", system=SEEDED,
                        seed=seed, system_options=options)

    return make


@pytest.fixture(scope="session")
def other_suite_version(tmp_path_factory) -> Path:
    """The smoke suite's items under version "2" (same files, another content hash)."""
    folder = tmp_path_factory.mktemp("smoke-v2")
    shutil.copytree(REPO_ROOT / "suites" / "smoke", folder / "smoke")
    spec = (REPO_ROOT / "suites" / "smoke.yaml").read_text().replace('version: "1"', 'version: "2"')
    assert 'version: "2"' in spec
    (folder / "smoke.yaml").write_text(spec)
    return folder / "smoke.yaml"
