"""The run store: append-only samples, torn-tail repair, locking, content-addressed audio."""
from __future__ import annotations

import json

import pytest

from evalkit.store import RunStore, StoreError, read_samples


def _records(n):
    return [{"item_id": f"i{k}", "value": k} for k in range(n)]


def test_append_and_reopen(tmp_path):
    with RunStore(tmp_path) as store:
        assert store.open() == {}
        for r in _records(3):
            store.append(r)
    with RunStore(tmp_path) as store:
        assert list(store.open()) == ["i0", "i1", "i2"]


@pytest.mark.parametrize("tail", [b'{"item_id": "i3", "val', b'{"item_id": "i3"}', b"\xff\xfe"])
def test_torn_last_line_is_dropped_and_cut(tmp_path, tail):
    with RunStore(tmp_path) as store:
        store.open()
        for r in _records(3):
            store.append(r)
    path = tmp_path / "samples.jsonl"
    good = path.read_bytes()
    path.write_bytes(good + tail)  # a write interrupted before its newline
    with RunStore(tmp_path) as store:
        records = store.open()
        assert list(records) == ["i0", "i1", "i2"]
        store.append({"item_id": "i3", "value": 3})
    lines = path.read_bytes().splitlines()
    assert [json.loads(x)["item_id"] for x in lines] == ["i0", "i1", "i2", "i3"]


def test_damaged_middle_line_is_an_error(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"item_id": "a"}\nnot json\n{"item_id": "b"}\n')
    with pytest.raises(StoreError, match="line 2 is damaged"):
        read_samples(path)


def test_second_writer_is_refused(tmp_path):
    with RunStore(tmp_path) as first:
        first.open()
        with pytest.raises(StoreError, match="in use by another evalkit process"):
            RunStore(tmp_path).open()


def test_audio_is_content_addressed(tmp_path):
    with RunStore(tmp_path) as store:
        store.open()
        rel = store.put_audio("ab" * 32, b"fLaC...")
        assert rel == f"audio/{'ab' * 32}.flac"
        assert (tmp_path / rel).read_bytes() == b"fLaC..."
        assert not list((tmp_path / "audio").glob(".*tmp"))


def test_rewrite_drops_records_atomically(tmp_path):
    with RunStore(tmp_path) as store:
        store.open()
        for r in _records(4):
            store.append(r)
        store.rewrite_samples(_records(2))
        store.append({"item_id": "new"})
    records, _ = read_samples(tmp_path / "samples.jsonl")
    assert list(records) == ["i0", "i1", "new"]


@pytest.mark.parametrize("anonymous", [True, False], ids=["O_TMPFILE", "named temporary"])
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_get_umask_modes(tmp_path, monkeypatch, anonymous, umask):
    import os

    from evalkit import cache

    if not anonymous:
        monkeypatch.setattr(cache, "_write_anonymous", lambda *a: None)
    old = os.umask(umask)
    try:
        target = tmp_path / "out.json"
        cache.atomic_write_bytes(target, b"new")
        plain = tmp_path / "plain.json"
        plain.write_bytes(b"x")  # what open() would give
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new"
    assert (target.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "plain.json"]


@pytest.mark.parametrize("anonymous", [True, False], ids=["O_TMPFILE", "named temporary"])
def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, anonymous):
    import os

    from evalkit import cache

    if not anonymous:
        monkeypatch.setattr(cache, "_write_anonymous", lambda *a: None)
    target = tmp_path / "report.html"
    target.write_bytes(b"old complete")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "_write_all", fail)
    with pytest.raises(OSError):
        cache.atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    blocked = tmp_path / "blocked"
    blocked.mkdir()  # renaming a file over a folder fails after the temporary is written
    with pytest.raises(OSError):
        cache.atomic_write_bytes(blocked, b"new")
    assert target.read_bytes() == b"old complete"
    assert sorted(os.listdir(tmp_path)) == ["blocked", "report.html"]


def test_a_record_utf8_cannot_encode_is_stored_as_that_items_failure(tmp_path):
    """JSON allows lone surrogates ("\\ud800") that UTF-8 cannot encode: the append must
    not crash (every resume would crash on the same item), and the item is a named failure."""
    with RunStore(tmp_path) as store:
        store.open()
        store.append({"item_id": "i0", "value": 0, "error": None})
        stored = store.append({"item_id": "i1", "text": "ok \ud800", "seed": 3, "audio": {"path": "x"},
                               "system_extras": {"note": "bad \udfff"}, "scores": {"rtf": {}}, "error": None})
        store.append({"item_id": "i2", "value": 2, "error": None})
    assert stored["error"]["stage"] == "store" and stored["scores"] == {} and stored["audio"] is None
    assert stored["error"]["message"] == ("item 'i1': system_extras.note, text held text that UTF-8 cannot "
                                          "encode (a lone surrogate such as \\ud800); the item's results could "
                                          "not be stored")
    raw = (tmp_path / "samples.jsonl").read_bytes()
    raw.decode("utf-8")  # the file stays UTF-8
    records, _ = read_samples(tmp_path / "samples.jsonl")
    assert list(records) == ["i0", "i1", "i2"] and records["i1"] == stored
    assert records["i1"]["text"] == "ok \ufffd"
    with RunStore(tmp_path) as store:  # and it reopens
        assert list(store.open()) == ["i0", "i1", "i2"]


def test_run_files_with_undecodable_command_lines_are_written(tmp_path):
    """sys.argv carries bytes that are not UTF-8 as surrogate escapes; run.json still gets written."""
    from evalkit.store import write_json

    write_json(tmp_path / "run.json", {"command": "evalkit run --out runs/\udcff"})
    assert json.loads((tmp_path / "run.json").read_text())["command"] == "evalkit run --out runs/\udcff"
