"""Reports rendered in a real headless Chromium, opened from disk with the network refused."""
from __future__ import annotations

import json
import shutil

import pytest
from report_helpers import HOSTILE_ID, HOSTILE_TEXT, audio_sources, check_audio_elements, decode_source, table_data

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report(report_runs, tmp_path_factory):
    from evalkit.report.render import write_report

    order = ("espeak", "ground-truth", "truncated", "smoke")
    return write_report([report_runs[k] for k in order], out=tmp_path_factory.mktemp("report") / "report.html")


def run_ids(page, table_index: int, body: str) -> list[str]:
    table = page.locator("table.leaderboard").nth(table_index)
    return table.locator(f"tbody.{body} tr td:first-child a").all_inner_texts()


def test_leaderboard_rows_sorting_and_split_suites(report, open_page, artifacts):
    page = open_page(report)
    assert page.locator("table.leaderboard").count() == 2  # mini and smoke never share a table
    assert "shown in separate tables" in page.inner_text("#leaderboard")
    assert run_ids(page, 0, "topline") == ["ground-truth"]
    assert sorted(run_ids(page, 0, "runs")) == ["espeak", "truncated"]
    assert run_ids(page, 1, "runs") == ["smoke-espeak"]
    headers = page.locator("table.leaderboard").nth(0).locator("th")
    assert headers.nth(6).inner_text().strip() == "↓ wer"  # the suite's main metric first
    column = headers.filter(has_text="duration_log_error")
    column.click()
    ascending = run_ids(page, 0, "runs")
    column.click()
    descending = run_ids(page, 0, "runs")
    assert ascending == ["espeak", "truncated"] and descending == ["truncated", "espeak"]
    assert run_ids(page, 0, "topline") == ["ground-truth"]  # the topline stays on top
    page.screenshot(path=str(artifacts / "report-leaderboard.png"))
    assert page.errors == [] and page.outside_requests == []


def test_item_text_is_shown_as_text_and_never_runs(report, open_page):
    page = open_page(report)
    assert page.evaluate("window.__evalkitInjected") is None
    run_page = page.locator("#run-0")
    assert HOSTILE_TEXT in run_page.inner_text()
    assert run_page.locator(".speech b").count() == 0 and run_page.locator(".speech script").count() == 0
    assert page.errors == []


def test_every_audio_element_plays(report, open_page):
    page = open_page(report)
    results = check_audio_elements(page)
    # espeak: 5 items x (generated, prompt, ground truth); ground truth: 5 x 2; ...
    assert len(results) >= 5 * 3 + 5 * 2 + 5 * 3 + 3 * 3
    sources = audio_sources(report)
    assert all(decode_source(report, src) > 0 for src in sources.values())
    assert page.outside_requests == []


def test_transcripts_are_aligned_to_the_text(report, open_page, artifacts):
    page = open_page(report)
    table = table_data(page, "items-run-0")
    speech = [row[1] for row in table["rows"]]
    assert all("ops" in cell for cell in speech)
    edits = sum(len([op for op in cell["ops"] if op[0] != "="]) + len([op for op in cell["ops"] if op[0] == "S"])
                for cell in speech)
    run_page = page.locator("#run-0")
    # Worst WER first, and the per-item WER histogram is drawn.
    wer_col = [c["label"] for c in table["columns"]].index("↓ wer")
    wers = [row[wer_col] for row in table["rows"]]
    assert wers == sorted(wers, reverse=True)
    assert run_page.locator("figure figcaption", has_text="wer per item").count() == 1
    assert run_page.locator(".transcript").count() == len(speech)
    assert run_page.locator(".transcript del, .transcript ins").count() == edits
    run_page.screenshot(path=str(artifacts / "report-run.png"))


def test_large_run_is_paginated_and_compact(report_runs, tmp_path, open_page):
    """1,200 items: the page stays small (no per-item DOM up front, no audio beyond the cap)."""
    from evalkit.report.render import write_report

    big = tmp_path / "big"
    shutil.copytree(report_runs["espeak"], big)
    records = [json.loads(line) for line in (big / "samples.jsonl").read_text().splitlines()]
    lines = [json.dumps({**records[i % len(records)], "item_id": f"big-{i:04d}"}) for i in range(1200)]
    (big / "samples.jsonl").write_text("\n".join(lines) + "\n")
    path = write_report([big], out=tmp_path / "big.html")
    assert path.stat().st_size < 8 * 1024 * 1024
    page = open_page(path)
    status = page.locator("#run-0 .controls .detail")
    assert status.inner_text() == "page 1 of 48 · 1200 items"
    assert page.locator("#run-0 table.items tbody tr").count() == 25
    assert page.evaluate("document.getElementsByTagName('*').length") < 5000
    first = page.locator("#run-0 table.items tbody tr td").first.inner_text()
    page.locator("#run-0 .controls button", has_text="next").click()
    assert status.inner_text() == "page 2 of 48 · 1200 items"
    assert page.locator("#run-0 table.items tbody tr td").first.inner_text() != first
    page.locator("#run-0 .controls input").fill("big-0007")
    assert status.inner_text() == "page 1 of 1 · 1 items"
    assert page.errors == []


def test_compare_page_shows_regressed_items_side_by_side(report_runs, tmp_path, open_page, artifacts):
    from evalkit.report.render import write_compare

    path = write_compare(report_runs["espeak"], report_runs["truncated"], out=tmp_path / "compare.html")
    page = open_page(path)
    verdicts = dict(zip(page.locator("#summaries tbody tr td:first-child").all_inner_texts(),
                        page.locator("#summaries tbody tr td:last-child").all_inner_texts()))
    assert verdicts["↓ truncation_rate"].startswith("worse")
    # Items are ranked by their duration error: cutting 60% of each clip ruins the four
    # smoke items, and improves the hostile one (espeak reads its markup aloud, so its
    # clip was far longer than its ground truth).
    rows = page.locator("#regressed table.items tbody tr")
    ids = sorted(rows.locator("td:first-child .mono").all_inner_texts())
    assert ids == ["smoke-01", "smoke-02", "smoke-03", "smoke-04"]
    for i in range(rows.count()):
        captions = rows.nth(i).locator("figcaption").all_inner_texts()
        assert captions[:2] == ["A generated", "B generated"]
    assert page.locator("#improved table.items tbody tr td:first-child .mono").all_inner_texts() == [HOSTILE_ID]
    check_audio_elements(page)
    page.screenshot(path=str(artifacts / "report-compare.png"), full_page=True)
    assert page.errors == [] and page.outside_requests == []


def test_bundle_folder_works_after_moving(report_runs, tmp_path, open_page):
    from evalkit.report.render import write_report

    bundle = tmp_path / "bundle"
    page_path = write_report([report_runs["espeak"], report_runs["ground-truth"]], bundle=bundle, embed_budget=0)
    assert page_path == bundle / "index.html"
    sources = audio_sources(page_path)
    assert sources and all(src.startswith("audio/") for src in sources.values())
    moved = tmp_path / "published" / "site"
    shutil.move(str(bundle), moved)
    page = open_page(moved / "index.html")
    check_audio_elements(page)
    assert HOSTILE_ID in page.inner_text("#run-0")
