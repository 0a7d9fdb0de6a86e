from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# A user plugin: espeak that counts its calls (in a file) and can be slowed down, so
# that tests can see cache hits and kill a run mid-flight.
PLUGIN = '''
import os, time
from evalkit.systems.espeak import EspeakSystem

class CountingEspeak(EspeakSystem):
    name = "counting-espeak"

    def synthesize(self, items, seeds):
        with open(os.environ["COUNT_FILE"], "a") as f:
            f.write("".join(i.id + "\\n" for i in items))
        time.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
        return super().synthesize(items, seeds)

class UnseededEspeak(CountingEspeak):
    deterministic = False

class Exploding(EspeakSystem):
    """Fails on items whose text contains 'explode'; whole-batch failures otherwise none."""
    batch_size = 4

    def synthesize(self, items, seeds):
        if os.environ.get("EXPLODE", "1") == "1" and any("explode" in i.text for i in items):
            raise RuntimeError("boom: " + ",".join(i.id for i in items if "explode" in i.text))
        return super().synthesize(items, seeds)
'''


@pytest.fixture
def plugin_env(tmp_path, monkeypatch, isolated_cache):
    """Makes `evalkit_test_plugin:<Class>` importable, in-process and in subprocesses;
    with an empty cache, so that call counts mean something."""
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    (plugin_dir / "evalkit_test_plugin.py").write_text(PLUGIN)
    count_file = tmp_path / "calls.txt"
    count_file.touch()
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugin_dir), str(REPO_ROOT)]))
    monkeypatch.setenv("COUNT_FILE", str(count_file))
    return count_file


