"""Typed run logs (api.load_run), pandas frames and `evalkit export`, checked against the files
themselves (samples.jsonl and metrics.json read here with json), on a real espeak-ng run with a
failed item."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from core_helpers import REPO_ROOT, evalkit_cli, write_suite

from evalkit.api import EvalConfig, evaluate, leaderboard_df, load_run
from evalkit.runlog import Run, Sample, SummaryRow

ROWS = [
    {"id": "a1", "text": "A short sentence.", "tags": ["plain"]},
    {"id": "a2", "text": "Please explode now.", "tags": ["boom", "plain"]},
    {"id": "a3", "text": "Numbers like 42 and 7.", "tags": ["numbers"]},
]


@pytest.fixture
def runs(tmp_path, plugin_env, espeak) -> tuple[Path, Path]:
    """Two finished runs of a three-item suite: espeak, and a plugin that fails one item."""
    suite = write_suite(tmp_path / "suite", ROWS)
    out = {}
    # The failing plugin first: it is espeak under the same name and options, so a run after
    # espeak's would be served espeak's cached audio for every item.
    for name, system in (("boom", "evalkit_test_plugin:Exploding"), ("ok", "espeak")):
        config = EvalConfig(suite=str(suite), system=system, metrics=("rtf", "duration"), out=tmp_path / name,
                            quiet=True)
        out[name] = evaluate(config).run_dir
    return out["ok"], out["boom"]


def jsonl(path: Path) -> dict[str, dict]:
    return {r["item_id"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_load_run_is_typed_and_matches_the_files(runs):
    _, boom = runs
    run = load_run(boom)
    metrics = json.loads((boom / "metrics.json").read_text())
    records = jsonl(boom / "samples.jsonl")
    assert isinstance(run, Run) and all(isinstance(s, Sample) for s in run.samples)
    assert [s.item_id for s in run.samples] == ["a1", "a2", "a3"]
    assert run.system.name == "espeak" and run.suite.name == "mini" and run.complete
    failed = {s.item_id: s for s in run.samples if s.failed}
    assert set(failed) == {"a2"} and failed["a2"].error.stage == "generate" and "boom" in failed["a2"].error.message
    assert failed["a2"].audio is None and run.n_failed == 1
    ok = next(s for s in run.samples if s.item_id == "a1")
    assert ok.audio.sha256 == records["a1"]["audio"]["sha256"]
    assert ok.timing.seconds == records["a1"]["timing"]["seconds"]
    assert ok.tags == ("plain",) and ok.scores["duration"] == records["a1"]["scores"]["duration"]
    for name, summary in metrics["metrics"].items():
        row = run.summaries[name]
        assert isinstance(row, SummaryRow) and row.value == summary["value"] and row.n == summary["n"]
        assert row.ci95 == (tuple(summary["ci95"]) if summary["ci95"] else None)
    with pytest.raises(AttributeError):  # frozen
        run.run_id = "x"


def test_samples_df_has_one_row_per_item_with_every_score(runs):
    ok, boom = runs
    df = load_run(boom).samples_df()
    records = jsonl(boom / "samples.jsonl")
    assert list(df["item_id"]) == ["a1", "a2", "a3"] and set(df["run_id"]) == {boom.name}
    assert list(df["failed"]) == [False, True, False]
    a2 = df.set_index("item_id").loc["a2"]
    assert a2["error_stage"] == "generate" and "boom" in a2["error"] and pd.isna(a2["audio_sha256"])
    assert a2["tags"] == "boom,plain"
    a3 = df.set_index("item_id").loc["a3"]
    for key, value in records["a3"]["scores"]["duration"].items():
        assert a3[f"duration.{key}"] == value, key
    assert a3["rtf.rtf"] == records["a3"]["scores"]["rtf"]["rtf"]
    assert a3["synth_seconds"] == records["a3"]["timing"]["seconds"]
    assert a3["stage.espeak"] == records["a3"]["timing"]["stages"]["espeak"]


def test_leaderboard_df_one_row_per_run(runs):
    ok, boom = runs
    board = leaderboard_df([ok, load_run(boom)])
    assert list(board["run_id"]) == [ok.name, boom.name] and list(board["n_failed"]) == [0, 1]
    for i, run_dir in enumerate(runs):
        metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
        assert board.loc[i, "rtf"] == pytest.approx(metrics["rtf"]["value"])
        assert board.loc[i, "rtf.ci_low"] == pytest.approx(metrics["rtf"]["ci95"][0])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_round_trips_through_pandas(runs, tmp_path, fmt):
    ok, boom = runs
    out = tmp_path / f"table.{fmt}"
    res = evalkit_cli("export", str(ok), str(boom), "--out", str(out), "--json")
    assert json.loads(res.stdout) == {"path": str(out), "format": fmt, "rows": 6, "runs": 2}
    expected = pd.concat([load_run(ok).samples_df(), load_run(boom).samples_df()], ignore_index=True)
    read = {"csv": pd.read_csv, "jsonl": lambda p: pd.read_json(p, lines=True), "parquet": pd.read_parquet}[fmt](out)
    assert list(read.columns) == list(expected.columns)
    assert list(read["item_id"]) == ["a1", "a2", "a3"] * 2 and list(read["failed"]) == [False] * 4 + [True, False]
    numeric = ["audio_seconds", "synth_seconds", "duration.ratio", "rtf.rtf"]
    pd.testing.assert_frame_equal(read[numeric].astype(float), expected[numeric].astype(float),
                                  check_exact=fmt == "parquet")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_export_to_stdout_and_from_a_folder_of_runs(runs):
    ok, _ = runs
    res = evalkit_cli("export", str(ok.parent), "--format", "jsonl")
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 6 and {r["run_id"] for r in rows} == {"ok", "boom"}
    bad = evalkit_cli("export", str(ok), "--format", "parquet", check=False)
    assert bad.returncode == 2 and "--out FILE" in bad.stderr


def test_parquet_without_pyarrow_is_a_clear_error_and_keeps_the_old_file(runs, tmp_path):
    ok, _ = runs
    out = tmp_path / "t.parquet"
    out.write_bytes(b"old")
    code = ("import sys; sys.modules['pyarrow'] = None; from evalkit.cli import main; "
            f"sys.exit(main(['export', {str(ok)!r}, '--out', {str(out)!r}]))")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "needs pyarrow" in res.stderr and "evalkit[parquet]" in res.stderr
    assert out.read_bytes() == b"old"


def test_checkpoint_hashes_become_columns(runs, tmp_path):
    ok, _ = runs
    copy = tmp_path / "copy"
    shutil.copytree(ok, copy)
    info = json.loads((copy / "run.json").read_text())
    info["system"]["checkpoints"] = {"decoder": {"path": "/m/dec.pth", "sha256": "ab" * 32},
                                     "vocoder": {"sha256": "cd" * 32}}
    (copy / "run.json").write_text(json.dumps(info))
    run = load_run(copy)
    assert run.system.checkpoints == {"decoder": "ab" * 32, "vocoder": "cd" * 32}
    df = run.samples_df()
    assert set(df["checkpoint.decoder"]) == {"ab" * 32} and set(df["checkpoint.vocoder"]) == {"cd" * 32}
