"""The Seed-TTS-eval import on a tiny seedtts_testset folder built by the test."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from suites_helpers import write_audio

from evalkit.suites import SuiteError, find_spec, load_suite, seedtts

# Four-column lines as en/meta.lst ships them; the second has no ground truth in wavs/.
META_LINES = [
    "cv_en_100-cv_en_101|We asked over twenty different people.|prompt-wavs/cv_en_100.wav|"
    "Get the fund to the bank early.",
    "cv_en_200-cv_en_201|The river was high that spring.|prompt-wavs/cv_en_200.wav|Nobody answered the second letter.",
]


def make_testset(base: Path, lines=META_LINES, truths=("cv_en_100-cv_en_101",)) -> Path:
    """base/seedtts_testset/en/{meta.lst, prompt-wavs/, wavs/}; returns the testset folder."""
    en = base / "seedtts_testset" / "en"
    for line in lines:
        write_audio(en / line.split("|")[2], 0.05)
    for name in truths:
        write_audio(en / "wavs" / f"{name}.wav", 0.05)
    (en / "meta.lst").parent.mkdir(parents=True, exist_ok=True)
    (en / "meta.lst").write_text("\n".join(lines) + "\n")
    return base / "seedtts_testset"


@pytest.mark.parametrize("point_at", ["seedtts_testset", "seedtts_testset/en", "seedtts_testset/en/meta.lst"])
def test_env_var_points_at_the_set_and_items_are_read(tmp_path, monkeypatch, point_at):
    make_testset(tmp_path / "corpora")
    monkeypatch.setenv("EVALKIT_SEEDTTS", str(tmp_path / "corpora" / point_at))
    suite = load_suite("seedtts-en")
    en = (tmp_path / "corpora" / "seedtts_testset" / "en").resolve()
    first, second = suite.items
    assert first.id == "cv_en_100-cv_en_101"
    assert first.text == "Get the fund to the bank early."
    assert first.prompt_text == "We asked over twenty different people."
    assert first.prompt_audio == en / "prompt-wavs" / "cv_en_100.wav"
    assert first.reference_audio == en / "wavs" / "cv_en_100-cv_en_101.wav"
    assert first.reference_text == first.text and first.language == "en"
    assert second.reference_audio is None and second.reference_text is None  # not shipped: no ground truth
    assert suite.problems == {}


def test_five_column_lines_name_their_ground_truth(tmp_path, monkeypatch):
    lines = [META_LINES[0] + "|truth/cv_en_101.wav"]
    testset = make_testset(tmp_path, lines, truths=())
    write_audio(testset / "en" / "truth" / "cv_en_101.wav", 0.05)
    monkeypatch.setenv("EVALKIT_SEEDTTS", str(testset))
    item = load_suite("seedtts-en").items[0]
    assert item.reference_audio == (testset / "en" / "truth" / "cv_en_101.wav").resolve()


def test_the_data_folder_is_searched_when_nothing_is_set(tmp_path):
    make_testset(tmp_path / "data" / "seedtts")
    assert len(load_suite("seedtts-en").items) == 2


def test_a_missing_set_says_where_to_get_it_and_how_to_point_at_it(tmp_path, monkeypatch):
    message = rf"no Seed-TTS-eval en/meta.lst found at .*data/seedtts.*{seedtts.TESTSET_URL}.*EVALKIT_SEEDTTS="
    with pytest.raises(SuiteError, match=message):
        load_suite("seedtts-en")
    monkeypatch.setenv("EVALKIT_SEEDTTS", str(tmp_path / "nowhere"))
    with pytest.raises(SuiteError, match=r"found at .*nowhere \(EVALKIT_SEEDTTS="):
        load_suite("seedtts-en")


def test_build_with_root_records_the_meta_file(tmp_path):
    testset = make_testset(tmp_path / "corpora")
    spec = find_spec("seedtts-en")
    summary = seedtts.build(spec, testset, quiet=True)
    assert summary.startswith("2 items (1 with ground truth)")
    record = json.loads((tmp_path / "data" / "seedtts" / "location.json").read_text())
    assert record["path"] == str((testset / "en" / "meta.lst").resolve())
    assert [i.id for i in load_suite("seedtts-en").items] == ["cv_en_100-cv_en_101", "cv_en_200-cv_en_201"]


def test_build_refuses_a_copy_with_missing_audio(tmp_path):
    testset = make_testset(tmp_path)
    (testset / "en" / "prompt-wavs" / "cv_en_200.wav").unlink()
    with pytest.raises(SuiteError, match=r"1 audio files it names are missing \(e\.g\. prompt-wavs/cv_en_200\.wav\)"):
        seedtts.build(find_spec("seedtts-en"), testset, quiet=True)
    with pytest.raises(SuiteError, match=r"--root .*: no meta.lst there"):
        seedtts.build(find_spec("seedtts-en"), tmp_path / "empty", quiet=True)


@pytest.mark.parametrize(
    "line, message",
    [
        ("a-b|prompt|prompt-wavs/a.wav", "expected 4 or 5 '|'-separated columns"),
        ("a-b|prompt||Target text.", "no prompt wav"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, monkeypatch, line, message):
    testset = make_testset(tmp_path)
    meta = testset / "en" / "meta.lst"
    meta.write_text(meta.read_text() + line + "\n")
    monkeypatch.setenv("EVALKIT_SEEDTTS", str(testset))
    with pytest.raises(SuiteError, match=rf"meta\.lst:3: {message}"):
        load_suite("seedtts-en")


def test_paths_may_not_escape_the_set(tmp_path, monkeypatch):
    testset = make_testset(tmp_path)
    meta = testset / "en" / "meta.lst"
    meta.write_text(meta.read_text() + "x-y|p|../../../secret.wav|Text.\n")
    monkeypatch.setenv("EVALKIT_SEEDTTS", str(testset))
    with pytest.raises(SuiteError, match="escapes the suite root"):
        load_suite("seedtts-en")
