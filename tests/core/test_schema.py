"""evalkit.schema: the one typed home of run.json, samples.jsonl and metrics.json.

The driver writes the files from these records; the files it writes read back to the same
JSON (so reading and rewriting a run changes nothing), hold no key the records do not
declare (writer and schema cannot drift apart), and files from other evalkit versions
read too: an older file's missing fields take defaults, a newer file's unknown fields are
kept and written back."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from core_helpers import write_suite

from evalkit.api import EvalConfig, evaluate
from evalkit.schema import RunInfo, RunMetrics, Sample, SummaryRow, Timing
from evalkit.store import RunStore

ROWS = [
    {"id": "a1", "text": "A short sentence.", "tags": ["plain"]},
    {"id": "a2", "text": "Please explode now.", "tags": ["boom"]},
]


@pytest.fixture
def run_dir(tmp_path, plugin_env, espeak) -> Path:
    """A finished run with a scored item and a failed one (the plugin explodes on "explode")."""
    suite = write_suite(tmp_path / "suite", ROWS)
    config = EvalConfig(suite=str(suite), system="evalkit_test_plugin:Exploding", metrics=("rtf", "duration"),
                        out=tmp_path / "run", quiet=True)
    return evaluate(config).run_dir


def read(path: Path):
    return json.loads(path.read_text())


def samples(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_written_files_read_back_to_the_same_json_in_the_same_order(run_dir):
    info, metrics = read(run_dir / "run.json"), read(run_dir / "metrics.json")
    for data, back in [(info, RunInfo.from_json(info).to_json()), (metrics, RunMetrics.from_json(metrics).to_json()),
                       *[(r, Sample.from_json(r).to_json()) for r in samples(run_dir)]]:
        assert back == data
        assert json.dumps(back) == json.dumps(data)  # key order too: a rewrite is byte-identical


def test_the_writer_writes_only_what_the_records_declare(run_dir):
    info = RunInfo.from_json(read(run_dir / "run.json"))
    metrics = RunMetrics.from_json(read(run_dir / "metrics.json"))
    assert info.extra == {} and metrics.extra == {}
    records = {r["item_id"]: Sample.from_json(r) for r in samples(run_dir)}
    assert records["a2"].failed and records["a2"].error.stage == "generate" and records["a2"].audio is None
    assert records["a1"].audio.sha256 and isinstance(records["a1"].timing, Timing)
    assert metrics.n_failed == 1 and metrics.complete and metrics.summaries["rtf"].metric == "rtf"


def test_an_older_file_reads_with_defaults():
    old = {"item_id": "x", "text": "t", "tags": [], "seed": 1, "audio": None, "timing": None, "system_extras": {},
           "scores": {}, "metric_errors": {}, "error": None, "finished": None}  # before not_applicable
    sample = Sample.from_json(old)
    assert sample.not_applicable == {} and sample.to_json() == {**old, "not_applicable": {}}
    row = SummaryRow.from_json("wer", {"value": 0.1, "n": 3, "n_failed": 0, "higher_is_better": False, "ci95": None})
    assert row.n_not_applicable == 0 and row.metric is None
    info = RunInfo.from_json({"schema_version": 1, "run_id": "r", "suite": {"name": "s"}})  # before targets
    assert info.targets == {} and info.invocations == [] and info.suite == {"name": "s"}


def test_a_newer_files_unknown_fields_are_kept():
    row = {"value": 1.0, "n": 1, "n_failed": 0, "n_not_applicable": 0, "higher_is_better": True, "ci95": [1.0, 1.0],
           "future": {"x": 1}, "metric": "m", "metric_version": "2"}
    assert SummaryRow.from_json("m", row).to_json() == row
    metrics = {"schema_version": 1, "run_id": "r", "suite": {}, "system": "s", "protocol": None, "main_metric": None,
               "n_items": 0, "n_done": 0, "n_failed": 0, "complete": True, "failures": {}, "metrics": {},
               "future": [1, 2]}
    assert RunMetrics.from_json(metrics).to_json() == metrics
    info = {**RunInfo.from_json({"run_id": "r"}).to_json(), "future": "kept"}
    assert RunInfo.from_json(info).to_json() == info


def test_resuming_rewrites_run_json_through_the_record(run_dir):
    """A second invocation appends to `invocations` and leaves every other field as it was."""
    before = read(run_dir / "run.json")
    config = EvalConfig(suite=str(Path(before["suite"]["spec"])), system="evalkit_test_plugin:Exploding",
                        metrics=("rtf", "duration"), out=run_dir, quiet=True)
    evaluate(config)
    after = read(run_dir / "run.json")
    assert len(after["invocations"]) == len(before["invocations"]) + 1
    assert {k: v for k, v in after.items() if k != "invocations"} == {k: v for k, v in before.items()
                                                                      if k != "invocations"}
    with RunStore(run_dir) as store:
        assert set(store.open()) == {"a1", "a2"}  # nothing recorded twice
