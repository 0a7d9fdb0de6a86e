"""`evalkit sweep`: 2 tiny random-weight TorToiSe checkpoints x 2 seeds on 2 smoke items, on Ray,
equal to the 4 runs made one by one; the page groups the seeds and compares the checkpoints."""
from __future__ import annotations

import json
import re
import statistics
from html.parser import HTMLParser

import pytest
from scale_helpers import comparable, comparable_metrics, records

from evalkit.api import EvalConfig, evaluate
from evalkit.cli import main

pytestmark = pytest.mark.timeout(420)
TINY = {"size": "tiny", "random_weights": True, "max_mel_tokens": 12, "num_autoregressive_samples": 3,
        "diffusion_iterations": 3}
METRICS = ("duration", "clvp", "stops")
SEEDS = (0, 1)


@pytest.fixture
def checkpoints(tmp_path):
    """Two autoregressive checkpoints of the tiny configuration, with different random weights."""
    import torch

    from evalkit.tortoise.autoregressive import UnifiedVoice
    from evalkit.tortoise.models import ModelConfigs

    paths = []
    for name, seed in (("step-1000.pth", 1), ("step-2000.pth", 2)):
        torch.manual_seed(seed)
        path = tmp_path / "ckpts" / name
        path.parent.mkdir(exist_ok=True)
        torch.save(UnifiedVoice(ModelConfigs.for_size("tiny").autoregressive).state_dict(), path)
        paths.append(path)
    return paths


@pytest.fixture
def one_thread(monkeypatch):
    """As in a Ray worker with one CPU: float results depend on the kernels' thread count."""
    import torch

    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Cells(HTMLParser):
    """The text of every cell of the page's configurations table, by row (the header first)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and "sweep" in (dict(attrs).get("class") or ""):
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("td", "th"):
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.rows[-1][-1] += data


def test_sweep_on_ray_equals_the_runs_made_one_by_one(tmp_path, monkeypatch, ray_cluster, checkpoints, one_thread):
    one_by_one = {}
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache-one"))
    for path in checkpoints:
        for seed in SEEDS:
            config = EvalConfig(suite="smoke", system="tortoise", limit=2, seed=seed, metrics=METRICS, device="cpu",
                                system_options={**TINY, "preset": "ultra_fast",
                                                "checkpoints": {"autoregressive": str(path)}},
                                runs_dir=tmp_path / "one", quiet=True)
            one_by_one[(path.name, seed)] = evaluate(config).run_dir

    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache-sweep"))
    page = tmp_path / "sweep.html"
    options = [arg for key, value in TINY.items() for arg in ("--option", f"{key}={str(value).lower()}")]
    args = ["sweep", "--suite", "smoke", "--system", "tortoise", *options, "--limit", "2", "--device", "cpu",
            "--metrics", ",".join(METRICS), "--checkpoints", str(tmp_path / "ckpts" / "*.pth"),
            "--presets", "ultra_fast", "--seeds", ",".join(map(str, SEEDS)), "--runs-dir", str(tmp_path / "sweep"),
            "--report", str(page), "--executor", "ray", "--address", ray_cluster.address, "--workers", "1", "-q"]
    assert main(args) == 0

    swept = sorted(p.parent for p in (tmp_path / "sweep").rglob("run.json"))
    assert len(swept) == 4
    by_name = {d.name: d for d in swept}
    pids = set()
    for (checkpoint, seed), alone in one_by_one.items():
        cell = by_name[alone.name]  # the same identity: the same run id
        a, b = records(alone), records(cell)
        assert set(a) == set(b) and len(a) == 2
        assert {k: comparable(r) for k, r in a.items()} == {k: comparable(r) for k, r in b.items()}
        metrics = [json.loads((d / "metrics.json").read_text()) for d in (alone, cell)]
        assert comparable_metrics(metrics[0]) == comparable_metrics(metrics[1])
        invocation = json.loads((cell / "run.json").read_text())["invocations"][-1]
        loaded = [k for k in invocation.get("phases_seconds", {}) if k.startswith("tortoise: loading")]
        assert len(loaded) == (1 if seed == SEEDS[0] else 0), (checkpoint, seed)  # the second seed shares the models
        pids |= {w["pid"] for w in invocation["executor"]["workers"] if w["role"] == "synthesis"}
    assert len(pids) == 1  # one synthesis worker served every cell

    # The page: one row per checkpoint, the mean and spread over its seeds, a paired comparison.
    table = Cells()
    table.feed(page.read_text())
    header, *rows = table.rows
    assert [r[0].split(" ")[0] for r in rows] == ["step-1000.pth", "step-2000.pth"]
    assert "reference" in rows[0][0] and [r[1] for r in rows] == ["0, 1", "0, 1"]
    column = next(i for i, name in enumerate(header) if name.endswith(" clvp"))
    for checkpoint, row in zip(("step-1000.pth", "step-2000.pth"), rows):
        values = [json.loads((one_by_one[(checkpoint, s)] / "metrics.json").read_text())["metrics"]["clvp"]["value"]
                  for s in SEEDS]
        cell = row[column]
        assert cell.startswith(f"{statistics.mean(values):.4g}")  # the mean over seeds
        assert f"sd {statistics.stdev(values):.4g}" in cell  # the across-seed spread ...
        assert f"range {min(values):.4g}-{max(values):.4g}" in cell
        assert re.search(r"\[-?[0-9.]+, -?[0-9.]+\]$", cell)  # ... next to a run's bootstrap CI
    html = page.read_text()
    assert "step-2000.pth" in html and "pooled" in html
    assert re.search(r"<td>step-2000\.pth</td><td>ultra_fast</td><td>. clvp</td>", html)
