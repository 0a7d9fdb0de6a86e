"""Reports rendered in a real headless Chromium, opened from disk with the network refused."""
from __future__ import annotations

import hashlib
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
    assert not column.is_visible()  # not a headline column: behind the toggle
    page.locator("#columns-0").check()
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


# --- headline columns, the picture, provenance tables ------------------------------------
# Names as long as real ones get: the 1,127-pair LibriSpeech-PC suite, run ids of a
# checkpoint sweep, five checkpoints with their hashes, a plugin system whose name has
# markup in it.
LONG_SUITE = "librispeech-pc-test-clean-cross-sentence-f5-tts-1127-pairs-39-speakers"
SWEEP_ID = "tortoise-finetune-librispeech-step-{step:07d}-ema-seed-{seed}-20261202T190510Z-{tail}"
PLUGIN_SYSTEM = "my-org/tts-plugins.systems:<b>VeryLongSystemClassName</b>"
COMPONENTS = ("autoregressive", "diffusion", "clvp", "cvvp", "vocoder")
HOSTILE_OPTION = "<img src=x onerror=window.__evalkitInjected=2>"


def renamed_run(source, dest, run_id: str, utmos: float, system: str | None = None, preset: str | None = None):
    """A copy of a real run under long names, with checkpoints, and UTMOS and DNSMOS
    summaries added to metrics.json (their models are not run here; the page's layout
    with all six headline columns is what is tested, not their values)."""
    shutil.copytree(source, dest)
    info = json.loads((dest / "run.json").read_text())
    summary = json.loads((dest / "metrics.json").read_text())
    info["run_id"] = summary["run_id"] = run_id
    info["suite"]["name"] = summary["suite"]["name"] = LONG_SUITE
    if system:
        info["system"]["name"] = summary["system"] = system
        info["system"]["options"] = {"voice": HOSTILE_OPTION, "nested": {"deep": {"value": 1}}, "preset": preset}
        info["system"]["checkpoints"] = {
            c: {"path": f"/ckpt/{run_id}/{c}.pth", "sha256": hashlib.sha256(f"{run_id}/{c}".encode()).hexdigest(),
                "source": f"local:/ckpt/{run_id}/{c}.pth"} for c in COMPONENTS}
    summary["metrics"]["utmos"] = {
        "value": utmos, "n": 5, "n_failed": 0, "n_not_applicable": 0, "higher_is_better": True,
        "ci95": [utmos - 0.1, utmos + 0.1], "metric": "utmos", "metric_version": "1"}
    summary["metrics"]["dnsmos_ovrl"] = {
        "value": utmos - 0.7, "n": 4, "n_failed": 0, "n_not_applicable": 1, "higher_is_better": True,
        "ci95": [utmos - 0.8, utmos - 0.6], "metric": "dnsmos", "metric_version": "1"}
    (dest / "run.json").write_text(json.dumps(info))
    (dest / "metrics.json").write_text(json.dumps(summary))
    return dest


@pytest.fixture(scope="module")
def long_names(report_runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("long-names")
    runs = [
        renamed_run(report_runs["ground-truth"], root / "gt", "ground-truth-" + "0123456789abcdef" * 3, 4.3),
        renamed_run(report_runs["espeak"], root / "a", SWEEP_ID.format(step=120000, seed=0, tail="3f9a2c7e"), 3.9,
                    system=PLUGIN_SYSTEM, preset="standard"),
        renamed_run(report_runs["espeak"], root / "b", SWEEP_ID.format(step=240000, seed=1, tail="77aa01bc"), 4.1,
                    system="tortoise", preset="ultra_fast"),
    ]
    from evalkit.report.render import write_report

    return write_report(runs, out=root / "report.html")


HEADLINE = ["run", "system", "checkpoints", "preset", "↓ wer", "↑ sim_o", "↑ utmos", "↑ dnsmos_ovrl", "↓ rtf",
            "↓ failed"]
OVERFLOW = "() => [...document.querySelectorAll('.board .scroll')].map(s => s.scrollWidth - s.clientWidth)"


def test_headline_columns_fit_1400px_and_the_rest_are_one_keypress_away(long_names, open_page, artifacts):
    page = open_page(long_names)
    assert page.viewport_size["width"] == 1400
    table = page.locator("table.leaderboard")
    assert table.count() == 1
    assert [h.strip() for h in table.locator("th:visible").all_inner_texts()] == HEADLINE
    assert page.evaluate(OVERFLOW) == [0]  # the headline table needs no horizontal scroll
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.screenshot(path=str(artifacts / "report-headline-1400.png"))
    # The toggle is a real control: reached with Tab, switched with Space.
    toggle = page.locator("#columns-0")
    page.locator("h3").first.click()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "columns-0":
            break
    assert page.evaluate("document.activeElement.id") == "columns-0"
    page.keyboard.press("Space")
    assert toggle.is_checked()
    headers = table.locator("th").all_inner_texts()
    assert table.locator("th:visible").count() == len(headers) > len(HEADLINE)
    assert [h.strip() for h in headers[4:6]] == ["protocol", "date"] and "↓ duration_log_error" in headers
    assert page.evaluate(OVERFLOW)[0] > 0  # every column: wider than the page, scrolled in its box
    page.locator(".board .scroll").first.screenshot(path=str(artifacts / "report-all-columns.png"))
    page.keyboard.press("Space")
    assert [h.strip() for h in table.locator("th:visible").all_inner_texts()] == HEADLINE
    assert page.errors == [] and page.outside_requests == []


def test_headline_columns_sort_and_names_stay_text(long_names, open_page):
    page = open_page(long_names)
    table = page.locator("table.leaderboard")
    utmos = table.locator("th", has_text="utmos")
    utmos.click()
    ascending = run_ids(page, 0, "runs")
    utmos.click()
    assert ascending == [SWEEP_ID.format(step=120000, seed=0, tail="3f9a2c7e"),
                         SWEEP_ID.format(step=240000, seed=1, tail="77aa01bc")]
    assert run_ids(page, 0, "runs") == ascending[::-1]
    assert run_ids(page, 0, "topline") == ["ground-truth-" + "0123456789abcdef" * 3]
    failed = table.locator("tbody.runs tr").first.locator("td:visible").nth(HEADLINE.index("↓ failed"))
    assert failed.inner_text().split("\n") == ["0.0%", "[0.0%, 43.4%]", "0 of 5 items"]  # Wilson, 0 of 5
    system = table.locator("tbody.runs td", has_text="VeryLong")
    assert system.inner_text() == PLUGIN_SYSTEM and system.locator("b").count() == 0
    assert page.errors == []


def test_the_picture_compares_runs_with_the_topline_marked(report, open_page):
    page = open_page(report)
    figure = page.locator("#leaderboard figure", has_text="runs at a glance")
    assert figure.count() == 1  # the mini table only: one smoke run alone compares with nothing
    assert figure.locator("figcaption").inner_text() == "runs at a glance: wer against sim_o, with 95% intervals"
    texts = figure.locator("svg text").all_text_contents()
    assert "ground-truth · ground-truth (topline)" in texts and "espeak · espeak" in texts
    assert "wer (lower is better)" in texts and "sim_o (higher is better)" in texts
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert page.errors == [] and page.outside_requests == []


def provenance_table(section) -> dict[str, str]:
    """key -> value text of a provenance section's table, nested keys as 'outer > inner'."""
    rows = section.locator("table.kv > tbody > tr")
    out = {}
    for i in range(rows.count()):
        key = rows.nth(i).locator("> th").inner_text()
        value = rows.nth(i).locator("> td")
        nested = value.locator("table.kv > tbody > tr")
        for j in range(nested.count()):
            out[f"{key} > {nested.nth(j).locator('> th').inner_text()}"] = nested.nth(j).locator("> td").inner_text()
        out[key] = value.locator("> .kv-text").inner_text() if value.locator("> .kv-text").count() else ""
    return out


def test_provenance_is_key_value_tables_of_escaped_text(long_names, open_page, artifacts):
    page = open_page(long_names)
    run_page = page.locator("#run-1")  # the plugin system's run
    info = json.loads((long_names.parent / "a" / "run.json").read_text())
    sections = run_page.locator(".prov-section")
    titles = [t.strip() for t in sections.locator("summary .prov-title").all_inner_texts()]
    assert titles == ["run", "evalkit", "hardware", "system", "checkpoints", "suite", "metric wer", "metric sim",
                      "metric rtf", "metric duration", "packages"]
    system = provenance_table(sections.nth(titles.index("system")))
    assert system["options > voice"] == HOSTILE_OPTION  # markup is text
    assert system["options > nested.deep.value"] == "1"  # deeper mappings as dotted keys
    assert page.evaluate("window.__evalkitInjected") is None and run_page.locator(".provenance img").count() == 0
    checkpoints = provenance_table(sections.nth(titles.index("checkpoints")))
    for c in COMPONENTS:
        assert checkpoints[f"{c} > sha256"] == info["system"]["checkpoints"][c]["sha256"]
    wer_prov = next(m for m in info["metrics"] if m["name"] == "wer")
    wer = provenance_table(sections.nth(titles.index("metric wer")))
    assert wer["asr > model"] == wer_prov["asr"]["model"] == "tiny.en"
    assert wer["asr > weights.sha256"] == wer_prov["asr"]["weights"]["sha256"]
    assert wer["normalizer > name"] == wer_prov["normalizer"]["name"]
    assert wer["asr > decoding.beam_size"] == str(wer_prov["asr"]["decoding"]["beam_size"])
    assert wer["asr > decoding.temperatures"] == ", ".join(map(str, wer_prov["asr"]["decoding"]["temperatures"]))
    packages = provenance_table(sections.nth(titles.index("packages")))
    assert all(packages[k] == (v if v is not None else "not installed") for k, v in info["packages"].items())
    values = run_page.locator(".provenance td").all_inner_texts()
    assert not [v for v in values if v.lstrip().startswith(("{\"", "[{"))]  # no raw JSON left
    run_page.locator(".provenance").screenshot(path=str(artifacts / "report-provenance.png"))
    assert page.errors == []
