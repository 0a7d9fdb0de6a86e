"""evalkit.download against a local HTTP server: resume, verification, offline, extraction."""
from __future__ import annotations

import io
import os
import tarfile
import time

import pytest
from suites_helpers import sha256

from evalkit.download import ChecksumMismatch, DownloadError, Remote, extract_tar, fetch

PAYLOAD = os.urandom(300_000)  # spans many socket reads, so a cut lands mid-stream


def remote_for(server, data: bytes = PAYLOAD, *, size: bool = True, path: str = "/data.bin") -> Remote:
    server.files[path] = data
    return Remote(server.url(path), sha256(data), len(data) if size else None, "test file")


def test_fetch_downloads_verifies_and_renames(file_server, tmp_path):
    dest = tmp_path / "out" / "data.bin"
    assert fetch(remote_for(file_server), dest, quiet=True) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("data.bin.part").exists()
    assert file_server.requests[0]["range"] == ""


def test_fetch_resumes_a_partial_file_with_a_range_request(file_server, tmp_path):
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD[:123_456])
    fetch(remote_for(file_server), dest, quiet=True)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in file_server.requests] == ["bytes=123456-"]


def test_fetch_starts_over_when_the_server_ignores_the_range(file_server, tmp_path):
    file_server.ignore_range = True
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD[:1000])
    fetch(remote_for(file_server), dest, quiet=True)
    assert dest.read_bytes() == PAYLOAD  # not the first 1000 bytes twice


def test_an_interrupted_download_keeps_its_part_and_the_next_run_resumes(file_server, tmp_path):
    remote = remote_for(file_server)
    dest = tmp_path / "data.bin"
    part = dest.with_name("data.bin.part")
    file_server.cut_after = 100_000
    with pytest.raises(DownloadError, match="interrupted.*run the command again to resume"):
        fetch(remote, dest, quiet=True)
    assert part.stat().st_size == 100_000 and not dest.exists()
    file_server.cut_after = None
    fetch(remote, dest, quiet=True)
    assert dest.read_bytes() == PAYLOAD
    assert file_server.requests[-1]["range"] == "bytes=100000-"


def test_an_unannounced_size_is_detected_from_content_length(file_server, tmp_path):
    """Without a pinned size the announced Content-Length still tells a cut body apart."""
    remote = remote_for(file_server, size=False)
    file_server.cut_after = 5000
    with pytest.raises(DownloadError, match="closed after 5,000 of 300,000 bytes"):
        fetch(remote, tmp_path / "data.bin", quiet=True)


def test_a_complete_part_answered_with_416_is_verified_and_kept(file_server, tmp_path):
    remote = remote_for(file_server, size=False)
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD)
    fetch(remote, dest, quiet=True)
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_names_the_file_and_discards_the_part(file_server, tmp_path):
    remote = remote_for(file_server)
    wrong = Remote(remote.url, sha256(b"something else"), remote.size, "test file")
    dest = tmp_path / "data.bin"
    with pytest.raises(ChecksumMismatch, match=f"does not match the pinned {wrong.sha256}"):
        fetch(wrong, dest, quiet=True)
    assert not dest.exists() and not dest.with_name("data.bin.part").exists()


def test_size_mismatch_is_reported_before_hashing(file_server, tmp_path):
    remote = remote_for(file_server)
    longer = Remote(remote.url, remote.sha256, remote.size - 10, "test file")
    with pytest.raises(ChecksumMismatch, match="300,000 bytes, expected 299,990"):
        fetch(longer, tmp_path / "data.bin", quiet=True)


def test_an_existing_verified_file_needs_no_network(file_server, tmp_path):
    remote = remote_for(file_server)
    dest = tmp_path / "data.bin"
    dest.write_bytes(PAYLOAD)
    fetch(remote, dest, quiet=True)
    assert file_server.requests == []
    dest.write_bytes(PAYLOAD[:-1] + b"\0")
    with pytest.raises(ChecksumMismatch, match=str(dest)):
        fetch(remote, dest, quiet=True)


def test_http_errors_name_the_status_and_where_to_put_the_file(file_server, tmp_path):
    remote = Remote(file_server.url("/missing.bin"), "0" * 64, 10, "test file")
    with pytest.raises(DownloadError, match=r"HTTP 404.*save it as .*missing\.bin"):
        fetch(remote, tmp_path / "missing.bin", quiet=True)


def test_offline_fails_fast_with_url_path_and_checksum(closed_port, tmp_path):
    remote = Remote(f"http://127.0.0.1:{closed_port}/big.tar.gz", "ab" * 32, 1234, "big archive")
    dest = tmp_path / "downloads" / "big.tar.gz"
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        fetch(remote, dest, quiet=True)
    assert time.monotonic() - start < 3
    message = str(err.value)
    assert remote.url in message and str(dest) in message and remote.sha256 in message and "unreachable" in message


def test_a_silent_server_fails_within_the_timeout(silent_port, tmp_path):
    remote = Remote(f"http://127.0.0.1:{silent_port}/x.bin", "00" * 32, 10, "x")
    start = time.monotonic()
    with pytest.raises(DownloadError, match="unreachable .*timed out"):
        fetch(remote, tmp_path / "x.bin", quiet=True, timeout_s=1.0)
    assert time.monotonic() - start < 5


def test_evalkit_offline_forbids_the_network(file_server, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_OFFLINE", "1")
    with pytest.raises(DownloadError, match="EVALKIT_OFFLINE"):
        fetch(remote_for(file_server), tmp_path / "data.bin", quiet=True)
    assert file_server.requests == []


def _tar(tmp_path, members: dict[str, bytes], links: dict[str, str] | None = None) -> os.PathLike:
    path = tmp_path / "archive.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def test_extract_tar_extracts_ordinary_members(tmp_path):
    archive = _tar(tmp_path, {"LibriSpeech/README.TXT": b"hello", "LibriSpeech/test-clean/1/2/1-2-3.flac": b"x"})
    extract_tar(archive, tmp_path / "out", quiet=True)
    assert (tmp_path / "out/LibriSpeech/README.TXT").read_bytes() == b"hello"
    assert (tmp_path / "out/LibriSpeech/test-clean/1/2/1-2-3.flac").is_file()


@pytest.mark.parametrize(
    "members, links",
    [
        ({"ok.txt": b"fine", "../escaped.txt": b"evil"}, {}),
        ({}, {"link": "../../outside"}),
    ],
    ids=["dot-dot", "symlink-out"],
)
def test_extract_tar_refuses_members_that_escape(tmp_path, members, links):
    archive = _tar(tmp_path, members, links)
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="refusing to extract member"):
        extract_tar(archive, out, quiet=True)
    assert not (tmp_path / "escaped.txt").exists()


def test_extract_tar_keeps_absolute_members_inside(tmp_path):
    absolute = tmp_path / "absolute.txt"
    archive = _tar(tmp_path, {str(absolute): b"data"})
    out = tmp_path / "out"
    extract_tar(archive, out, quiet=True)
    assert not absolute.exists()
    assert (out / str(absolute).lstrip("/")).read_bytes() == b"data"


def test_extract_tar_reports_a_corrupt_archive(tmp_path):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + os.urandom(100))
    with pytest.raises(DownloadError, match="cannot extract"):
        extract_tar(archive, tmp_path / "out", quiet=True)
