"""Suite specs, manifests and their validation."""
from __future__ import annotations

import json

import pytest
from core_helpers import write_suite

from evalkit.suites import SuiteError, load_suite

SMOKE_AUDIO = "../smoke/audio"


def test_smoke_suite_is_complete_and_offline():
    suite = load_suite("smoke")
    assert 8 <= len(suite.items) <= 12
    voices = {i.prompt_audio.name for i in suite.items}
    assert len(voices) >= 3  # at least three distinct speaker prompts
    assert all(i.reference_audio is not None and i.reference_audio.is_file() for i in suite.items)
    texts = " ".join(i.text for i in suite.items)
    assert any(ch.isdigit() for ch in texts) and "?" in texts and "Dr." in texts
    assert suite.problems == {}
    assert len(suite.content_hash) == 64


def test_content_hash_follows_content_not_paths(tmp_path):
    rows = [{"id": "a", "text": "Hello there."}, {"id": "b", "text": "General Kenobi."}]
    h1 = load_suite(str(write_suite(tmp_path / "one", rows))).content_hash
    h2 = load_suite(str(write_suite(tmp_path / "two", rows))).content_hash  # same content, other folder
    rows[1]["text"] = "General Grievous."
    h3 = load_suite(str(write_suite(tmp_path / "three", rows))).content_hash
    assert h1 == h2 != h3


def test_audio_content_changes_the_hash(tmp_path):
    import numpy as np
    import soundfile as sf

    folder = tmp_path / "s"
    folder.mkdir()
    sf.write(folder / "p.wav", np.zeros(1600, dtype="float32"), 16000)
    path = write_suite(folder, [{"id": "a", "text": "Hi.", "prompt_audio": "p.wav"}])
    before = load_suite(str(path)).content_hash
    sf.write(folder / "p.wav", np.full(1600, 0.1, dtype="float32"), 16000)
    assert load_suite(str(path)).content_hash != before


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nversion: 1\nitems: [\n  {id: a, text: 'x'\n")
    with pytest.raises(SuiteError, match=r"bad.yaml: YAML syntax error at line \d+"):
        load_suite(str(path))


def test_jsonl_syntax_error_names_line(tmp_path):
    path = write_suite(tmp_path, [{"id": "a", "text": "ok"}])
    (tmp_path / "items.jsonl").write_text('{"id": "a", "text": "ok"}\n{"id": "b", "text": \n')
    with pytest.raises(SuiteError, match=r"items.jsonl:2: invalid JSON"):
        load_suite(str(path))


def test_duplicate_id_is_refused_with_both_locations(tmp_path):
    path = write_suite(tmp_path, [{"id": "a", "text": "one"}, {"id": "a", "text": "two"}])
    with pytest.raises(SuiteError, match=r"items.jsonl:2: duplicate item id 'a' \(first at .*items.jsonl:1\)"):
        load_suite(str(path))


@pytest.mark.parametrize("bad_id", ["../x", "a/b", "", " lead", "x" * 201])
def test_unsafe_ids_are_refused(tmp_path, bad_id):
    path = write_suite(tmp_path, [{"id": bad_id, "text": "one"}])
    with pytest.raises(SuiteError, match="item id"):
        load_suite(str(path))


@pytest.mark.parametrize("escape", ["../outside.wav", "/etc/passwd", "sub/../../x.wav"])
def test_paths_may_not_escape_the_suite_root(tmp_path, escape):
    path = write_suite(tmp_path / "suite", [{"id": "a", "text": "one", "prompt_audio": escape}])
    with pytest.raises(SuiteError, match="escapes the suite root"):
        load_suite(str(path))


def test_per_item_problems_do_not_abort_the_load(tmp_path):
    rows = [
        {"id": "ok", "text": "Fine."},
        {"id": "empty", "text": "   "},
        {"id": "long", "text": "word " * 1000},
        {"id": "nofile", "text": "Hi.", "prompt_audio": "missing.wav"},
    ]
    suite = load_suite(str(write_suite(tmp_path, rows)))
    assert [i.id for i in suite.items] == ["ok", "empty", "long", "nofile"]
    assert set(suite.problems) == {"empty", "long", "nofile"}
    assert "text is empty" in suite.problems["empty"]
    assert "limit 2000" in suite.problems["long"]
    assert "missing.wav does not exist" in suite.problems["nofile"]


def test_unknown_fields_and_keys_are_errors(tmp_path):
    with pytest.raises(SuiteError, match="unknown field"):
        load_suite(str(write_suite(tmp_path / "a", [{"id": "a", "text": "x", "speaker": "bob"}])))
    with pytest.raises(SuiteError, match="unknown key"):
        load_suite(str(write_suite(tmp_path / "b", [{"id": "a", "text": "x"}], mainmetric="wer")))


def test_bare_jsonl_file_is_a_suite(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"id": "x1", "text": "Hello."}) + "\n")
    suite = load_suite(str(path))
    assert suite.name == "mine" and [i.id for i in suite.items] == ["x1"]


def test_voice_override_replaces_prompts(tmp_path):
    smoke = load_suite("smoke")
    voice = smoke.items[0].prompt_audio
    overridden = load_suite("smoke", voice=voice)
    assert {i.prompt_audio for i in overridden.items} == {voice}
    assert overridden.content_hash != smoke.content_hash
    with pytest.raises(SuiteError, match="no such file or folder"):
        load_suite("smoke", voice=tmp_path / "nope.wav")


def _clips(folder, *names):
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        sf.write(folder / name, np.full(1600, 0.01 * (i + 1), dtype="float32"), 16000)


def test_voice_folder_gives_every_item_all_its_clips(tmp_path):
    _clips(tmp_path / "voice", "b.wav", "a.flac", "c.wav")
    (tmp_path / "voice" / "notes.txt").write_text("not audio")
    suite = load_suite("smoke", voice=tmp_path / "voice", voice_text="The first clip.")
    item = suite.items[0]
    assert item.prompt_audio.name == "a.flac" and [p.name for p in item.extra_prompt_audio] == ["b.wav", "c.wav"]
    assert [p.name for p in item.voice_clips] == ["a.flac", "b.wav", "c.wav"] and item.prompt_text == "The first clip."
    assert suite.content_hash != load_suite("smoke", voice=tmp_path / "voice" / "a.flac").content_hash
    (tmp_path / "empty").mkdir()
    with pytest.raises(SuiteError, match="holds no audio"):
        load_suite("smoke", voice=tmp_path / "empty")


def test_extra_prompt_clips_in_a_manifest(tmp_path):
    folder = tmp_path / "s"
    _clips(folder, "p.wav", "p2.wav", "p3.wav")
    rows = [{"id": "a", "text": "Hi.", "prompt_audio": "p.wav", "extra_prompt_audio": ["p2.wav", "p3.wav"]},
            {"id": "b", "text": "Bye.", "prompt_audio": "p.wav"},
            {"id": "c", "text": "Gone.", "prompt_audio": "p.wav", "extra_prompt_audio": ["lost.wav"]}]
    suite = load_suite(str(write_suite(folder, rows)))
    a, b, c = suite.items
    assert [p.name for p in a.voice_clips] == ["p.wav", "p2.wav", "p3.wav"] and b.extra_prompt_audio == ()
    assert "extra_prompt_audio" not in b.to_json()  # one-clip items keep the JSON, and hash, they always had
    assert set(suite.problems) == {"c"} and "extra speaker prompt" in suite.problems["c"]
    before = suite.content_hash
    _clips(folder, "p3.wav")  # an extra clip's content changes (0.01 instead of 0.03)
    assert load_suite(str(write_suite(folder, rows))).content_hash != before
    for bad, message in (({"extra_prompt_audio": "p2.wav"}, "list of string paths"),
                         ({"extra_prompt_audio": ["../../outside.wav"]}, "escapes the suite root")):
        with pytest.raises(SuiteError, match=message):
            load_suite(str(write_suite(tmp_path / "bad", [{**rows[0], **bad}])))
    with pytest.raises(SuiteError, match="needs a prompt_audio"):
        load_suite(str(write_suite(tmp_path / "noprompt", [{"id": "a", "text": "x", "extra_prompt_audio": ["p.wav"]}])))


def test_suite_level_default_voice_may_have_extra_clips(tmp_path):
    folder = tmp_path / "s"
    _clips(folder, "v1.wav", "v2.wav", "own.wav")
    rows = [{"id": "a", "text": "Hi."}, {"id": "b", "text": "Bye.", "prompt_audio": "own.wav"}]
    suite = load_suite(str(write_suite(folder, rows, prompt_audio="v1.wav", extra_prompt_audio="[v2.wav]")))
    a, b = suite.items
    assert [p.name for p in a.voice_clips] == ["v1.wav", "v2.wav"] and [p.name for p in b.voice_clips] == ["own.wav"]
    with pytest.raises(SuiteError, match="needs a prompt_audio"):
        load_suite(str(write_suite(tmp_path / "t", rows, extra_prompt_audio="[v2.wav]")))


def test_unknown_suite_lists_known_ones():
    with pytest.raises(SuiteError, match=r"unknown suite 'nope' \(known: .*smoke"):
        load_suite("nope")
