"""The LibriSpeech-PC cross-sentence suite: the real list, the parser, the loader and the build."""
from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import pytest
import soundfile as sf
from suites_helpers import sha256, write_librispeech_tree

from evalkit.cli import main as cli_main
from evalkit.download import Remote, verify
from evalkit.suites import SuiteError, find_spec, load_suite
from evalkit.suites import librispeech as ls
from evalkit.suites.manifest import build_items

# (prompt id, prompt s, prompt text, target id, target s, target text): two speakers.
MINI_PAIRS = [
    ("61-70968-0001", "3.1", "Give not so earnest a mind to these mummeries, child.", "61-70968-0000", "6.2",
     "He began a confused complaint against the wizard, who had vanished behind the curtain on the left."),
    ("61-70968-0001", "3.1", "Give not so earnest a mind to these mummeries, child.", "61-70968-0002", "5.0",
     "A golden fortune, and a happy life!"),
    ("121-121726-0005", "2.9", "Also, a popular contrivance.", "121-121726-0007", "7.7",
     "Heaven, a good place to be raised to."),
]


def lst_text(pairs) -> str:
    return "".join("\t".join(p) + "\r\n" for p in pairs)  # CRLF, as the published list


def mini_suite(tmp_path: Path, pairs=MINI_PAIRS) -> Path:
    """A spec with a custom (unpinned) list in its data folder; returns the YAML path."""
    data = tmp_path / "data" / "ls-mini"
    data.mkdir(parents=True)
    (data / "mini.lst").write_text(lst_text(pairs))
    spec = tmp_path / "ls-mini.yaml"
    spec.write_text('name: ls-mini\nversion: "1"\nloader: librispeech-pc\nroot: $EVALKIT_DATA/ls-mini\n'
                    "options: {list: mini.lst}\n")
    return spec


def mini_ids(pairs=MINI_PAIRS) -> set[str]:
    return {u for p in pairs for u in (p[0], p[3])}


# ---------------------------------------------------------------- the real list


def test_the_real_list_matches_its_pin_and_the_protocol(shared_list):
    verify(ls.PAIR_LIST, shared_list)  # sha256 and size as pinned
    pairs = ls.parse_pair_list(shared_list)
    ls.check_protocol(pairs, shared_list)
    assert len(pairs) == 1127 and len({p.target_id for p in pairs}) == 1127
    assert len({p.speaker for p in pairs}) == 39
    # Orientation: prompts (first columns) are the short ones, targets the 4-10 s ones.
    assert 2.4 == min(p.prompt_seconds for p in pairs) and max(p.prompt_seconds for p in pairs) < 4.5
    assert 4.0 == min(p.target_seconds for p in pairs) and max(p.target_seconds for p in pairs) == 10.0
    first = pairs[0]
    assert (first.prompt_id, first.target_id) == ("4992-41806-0009", "4992-23283-0000")
    assert first.target_text.startswith("But the more forgetfulness")
    assert all(p.prompt_id != p.target_id and p.prompt_id.split("-")[0] == p.speaker for p in pairs)


def test_check_protocol_names_each_deviation(shared_list):
    pairs = ls.parse_pair_list(shared_list)
    with pytest.raises(SuiteError, match=r"100 pairs, expected 1,127; \d+ speakers, expected 39"):
        ls.check_protocol(pairs[:100], shared_list)
    swapped = [ls.Pair(p.target_id, p.target_seconds, p.target_text, p.prompt_id, p.prompt_seconds,
                       p.prompt_text, p.where) for p in pairs]
    with pytest.raises(SuiteError, match=r"\d+ targets outside 4-10 s .*; \d+ prompts outside 2.4-4.5 s"):
        ls.check_protocol(swapped, shared_list)


# ---------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    "line, message",
    [
        ("61-70968-0001\t3.1\tText.\t61-70968-0000\t6.2", "expected 6 tab-separated columns"),
        ("61-70968-0001\t3.1\tText.\t61_70968_0000\t6.2\tMore.", "'61_70968_0000' is not a LibriSpeech utterance id"),
        ("61-70968-0001\t3.1\tText.\t61-70968-0001\t6.2\tMore.", "the prompt is the target itself"),
        ("61-70968-0001\t3.1\tText.\t121-121726-0007\t6.2\tMore.", "are different speakers"),
        ("61-70968-0001\tthree\tText.\t61-70968-0000\t6.2\tMore.", "are not numbers"),
        ("61-70968-0001\t3.1\t\t61-70968-0000\t6.2\tMore.", "empty prompt text"),
    ],
)
def test_the_parser_names_file_line_and_problem(tmp_path, line, message):
    path = tmp_path / "bad.lst"
    path.write_text(lst_text(MINI_PAIRS[:1]) + line + "\n")
    with pytest.raises(SuiteError, match=rf"bad\.lst:2: .*{message}"):
        ls.parse_pair_list(path)


def test_the_parser_refuses_a_repeated_target(tmp_path):
    path = tmp_path / "dup.lst"
    path.write_text(lst_text([MINI_PAIRS[0], MINI_PAIRS[1], MINI_PAIRS[0]]))
    with pytest.raises(SuiteError, match=r"dup\.lst:3: target 61-70968-0000 is listed twice \(first at .*dup\.lst:1\)"):
        ls.parse_pair_list(path)


# ---------------------------------------------------------------- the loader


def test_the_loader_pairs_prompts_and_targets_on_a_small_tree(tmp_path):
    spec_path = mini_suite(tmp_path)
    test_clean = tmp_path / "data" / "ls-mini" / "LibriSpeech" / "test-clean"
    write_librispeech_tree(test_clean, mini_ids())
    suite = load_suite(str(spec_path))
    assert [i.id for i in suite.items] == ["61-70968-0000", "61-70968-0002", "121-121726-0007"]
    item = suite.items[0]
    assert item.text == item.reference_text == MINI_PAIRS[0][5]  # punctuated, cased: the list's text
    assert item.prompt_text == MINI_PAIRS[0][2]
    assert item.prompt_audio == (test_clean / "61/70968/61-70968-0001.flac").resolve()
    assert item.reference_audio == (test_clean / "61/70968/61-70968-0000.flac").resolve()
    assert item.tags == ("speaker-61",) and item.language == "en"
    assert suite.items[2].tags == ("speaker-121",)
    assert suite.problems == {}
    assert all(suite.audio_hashes.values())
    again = load_suite(str(spec_path))
    assert again.content_hash == suite.content_hash
    target = test_clean / "61/70968/61-70968-0002.flac"
    sf.write(target, sf.read(target)[0] * 0.5, 16000, format="FLAC")
    assert load_suite(str(spec_path)).content_hash != suite.content_hash  # audio content counts


def test_a_missing_utterance_fails_only_its_item(tmp_path):
    spec_path = mini_suite(tmp_path)
    test_clean = tmp_path / "data" / "ls-mini" / "LibriSpeech" / "test-clean"
    write_librispeech_tree(test_clean, mini_ids())
    (test_clean / "121/121726/121-121726-0007.flac").unlink()
    suite = load_suite(str(spec_path))
    assert list(suite.problems) == ["121-121726-0007"]
    assert "ground-truth audio" in suite.problems["121-121726-0007"]


def test_loading_before_building_says_how_to_build(tmp_path, shared_list):
    message = r"pair list .* is missing\. Run `evalkit suites build librispeech`.*--root DIR"
    with pytest.raises(SuiteError, match=message):
        load_suite("librispeech")
    data = tmp_path / "data" / "librispeech"
    data.mkdir(parents=True)
    (data / ls.LIST_NAME).write_bytes(shared_list.read_bytes())
    start = time.monotonic()
    with pytest.raises(SuiteError, match=r"audio is missing .*Run `evalkit suites build librispeech`"):
        load_suite("librispeech")
    assert time.monotonic() - start < 2  # `make eval SUITE=librispeech` stops at once


def test_a_tampered_pinned_list_is_refused(tmp_path, shared_list):
    data = tmp_path / "data" / "librispeech"
    data.mkdir(parents=True)
    (data / ls.LIST_NAME).write_bytes(shared_list.read_bytes().replace(b"Bill Harmon", b"Bill Harmen"))
    with pytest.raises(SuiteError, match=r"does not match the pinned .*run `evalkit suites build librispeech`"):
        load_suite("librispeech")


# ---------------------------------------------------------------- the build


@pytest.mark.parametrize("given", ["corpus", "corpus/LibriSpeech", "corpus/LibriSpeech/test-clean"])
def test_build_with_root_records_an_existing_copy(tmp_path, given):
    spec_path = mini_suite(tmp_path)
    write_librispeech_tree(tmp_path / "corpus" / "LibriSpeech" / "test-clean", mini_ids())
    assert cli_main(["suites", "build", str(spec_path), "--root", str(tmp_path / given), "--quiet"]) == 0
    record = json.loads((tmp_path / "data" / "ls-mini" / "location.json").read_text())
    assert record["path"] == str((tmp_path / "corpus" / "LibriSpeech" / "test-clean").resolve())
    assert record["source"].startswith("--root")
    suite = load_suite(str(spec_path))  # found through the record, no flag needed
    assert suite.problems == {} and suite.items[0].prompt_audio.is_relative_to(tmp_path / "corpus")


def test_build_with_root_refuses_an_incomplete_or_wrong_folder(tmp_path):
    spec = find_spec(str(mini_suite(tmp_path)))
    write_librispeech_tree(tmp_path / "corpus" / "test-clean", mini_ids() - {"61-70968-0002"})
    with pytest.raises(SuiteError, match=r"1 of the 5 audio files .* missing \(e\.g\. 61/70968/61-70968-0002\.flac\)"):
        ls.build(spec, tmp_path / "corpus", quiet=True)
    with pytest.raises(SuiteError, match="no test-clean folder there"):
        ls.build(spec, tmp_path / "elsewhere", quiet=True)
    assert not (tmp_path / "data" / "ls-mini" / "location.json").exists()


def _flac_bytes() -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(800, dtype="float32"), 16000, format="FLAC")
    return buffer.getvalue()


def _librispeech_archive(utterance_ids) -> bytes:
    """A test-clean.tar.gz shaped like OpenSLR's (one tiny FLAC content for every file)."""
    flac, buffer = _flac_bytes(), io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        members = {"LibriSpeech/LICENSE.TXT": b"CC BY 4.0\n"}
        members.update({f"LibriSpeech/test-clean/{ls.utterance_path(u)}": flac for u in utterance_ids})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_build_downloads_verifies_and_extracts_the_real_protocol(tmp_path, shared_list, file_server, monkeypatch):
    listing = shared_list.read_bytes()
    pairs = ls.parse_pair_list(shared_list)
    archive = _librispeech_archive({u for p in pairs for u in (p.prompt_id, p.target_id)})
    file_server.files.update({"/list.lst": listing, "/test-clean.tar.gz": archive})
    monkeypatch.setattr(ls, "PAIR_LIST", Remote(file_server.url("/list.lst"), ls.PAIR_LIST.sha256, len(listing)))
    monkeypatch.setattr(ls, "TEST_CLEAN", Remote(file_server.url("/test-clean.tar.gz"), sha256(archive), len(archive)))
    spec = find_spec("librispeech")
    assert ls.build(spec, None, quiet=True).startswith("1,127 pairs from 39 speakers")
    data = tmp_path / "data" / "librispeech"
    assert (data / ls.LIST_NAME).read_bytes() == listing
    assert (data / "LibriSpeech" / "LICENSE.TXT").is_file()
    assert not (data / "downloads" / "test-clean.tar.gz").exists() and not (data / ".extracting").exists()
    rows = ls.load_items(spec)
    items, problems = build_items(rows.rows, rows.root)
    assert len(items) == 1127 and problems == {}
    assert all(i.prompt_audio.parent.parent.name == i.id.split("-")[0] for i in items)
    requests = len(file_server.requests)
    ls.build(spec, None, quiet=True)  # already built: nothing is fetched again
    assert len(file_server.requests) == requests


def test_offline_build_fails_fast_naming_files_urls_paths_and_root(tmp_path, closed_port, monkeypatch):
    for name in ("PAIR_LIST", "TEST_CLEAN"):
        pinned = getattr(ls, name)
        url = f"http://127.0.0.1:{closed_port}/{pinned.url.rsplit('/', 1)[-1]}"
        monkeypatch.setattr(ls, name, Remote(url, pinned.sha256, pinned.size, pinned.label))
    start = time.monotonic()
    with pytest.raises(SuiteError) as err:
        ls.build(find_spec("librispeech"), None, quiet=True)
    assert time.monotonic() - start < 5
    message, data = str(err.value), tmp_path / "data" / "librispeech"
    for expected in (ls.PAIR_LIST.url, ls.TEST_CLEAN.url, str(data / ls.LIST_NAME),
                     str(data / "downloads" / "test-clean.tar.gz"), ls.TEST_CLEAN.sha256,
                     "evalkit suites build librispeech --root DIR"):
        assert expected in message
