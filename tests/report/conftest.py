"""Runs and a real headless Chromium for the report tests.

The runs are made by the real runner on a small suite built here from the smoke
suite's audio, with one hostile item text (markup that must show as text). Chromium
is Debian's /usr/bin/chromium driven by Playwright; browser tests are skipped (not
failed) where it is absent. Screenshots go to test-artifacts/ at the repository root.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from report_helpers import HOSTILE_ID, HOSTILE_TEXT

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE = REPO_ROOT / "suites" / "smoke"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="session")
def mini_suite(tmp_path_factory) -> Path:
    """Five items: the hostile one and four smoke items, with prompts and ground truth."""
    folder = tmp_path_factory.mktemp("mini-suite")
    shutil.copytree(SMOKE / "audio", folder / "audio")
    rows = [json.loads(line) for line in (SMOKE / "items.jsonl").read_text().splitlines()[:4]]
    hostile = {**rows[0], "id": HOSTILE_ID, "text": HOSTILE_TEXT, "reference_text": HOSTILE_TEXT, "tags": ["markup"]}
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [hostile, *rows]))
    (folder / "mini.yaml").write_text('name: mini\nversion: "1"\nmain_metric: wer\nitems: items.jsonl\n')
    return folder / "mini.yaml"


@pytest.fixture(scope="session")
def report_runs(mini_suite, tmp_path_factory, espeak) -> dict[str, Path]:
    """espeak and ground truth (topline), both with WER (transcripts) and SIM-o (the
    leaderboard's picture plots one against the other), espeak audio truncated to 40%
    (audio-dir), and espeak on the smoke suite (another suite content)."""
    from evalkit.api import EvalConfig, evaluate

    root = tmp_path_factory.mktemp("report-runs")

    def run(name: str, **config) -> Path:
        evaluate(EvalConfig(out=root / name, quiet=True, **{"metrics": ("rtf", "duration"), **config}))
        return root / name

    runs = {
        "espeak": run("espeak", suite=str(mini_suite), system="espeak", metrics=("wer", "sim", "rtf", "duration")),
        "ground-truth": run("ground-truth", suite=str(mini_suite), system="ground-truth",
                            metrics=("wer", "sim", "rtf", "duration")),
    }
    truncated = root / "truncated-audio"
    truncated.mkdir()
    for line in (runs["espeak"] / "samples.jsonl").read_text().splitlines():
        record = json.loads(line)
        audio, rate = sf.read(runs["espeak"] / record["audio"]["path"], dtype="float32")
        sf.write(truncated / f"{record['item_id']}.wav", audio[: int(len(audio) * 0.4)], rate)
    runs["truncated"] = run("truncated", suite=str(mini_suite), system="audio-dir",
                            system_options={"audio_dir": str(truncated)})
    runs["smoke"] = run("smoke-espeak", suite="smoke", system="espeak", limit=3)
    return runs


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A Playwright persistent context on Debian's Chromium with a fresh profile."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (CI installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


@pytest.fixture
def open_page(browser):
    """open_page(path) -> page loaded from file://, with every non-file, non-data request
    refused (a report must work offline) and page errors collected in page.errors."""
    pages = []

    def open_(path: Path):
        page = browser.new_page()
        page.errors = []
        page.outside_requests = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))

        def route(r):
            if r.request.url.startswith(("file:", "data:")):
                return r.continue_()
            page.outside_requests.append(r.request.url)
            return r.abort()

        page.route("**/*", route)
        page.goto(path.resolve().as_uri())
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
