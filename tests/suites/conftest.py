"""Fixtures for the suite tests: an isolated data/cache folder, a local HTTP server that
speaks Range requests, and builders of tiny LibriSpeech-shaped trees."""
from __future__ import annotations

import http.server
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_LIST = REPO_ROOT.parent / "shared" / "data" / "librispeech_pc_test_clean_cross_sentence.lst"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own data and cache folders and network permission."""
    monkeypatch.setenv("EVALKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EVALKIT_OFFLINE", raising=False)
    monkeypatch.delenv("EVALKIT_SEEDTTS", raising=False)
    return tmp_path


@pytest.fixture
def shared_list() -> Path:
    if not SHARED_LIST.is_file():
        pytest.skip(f"{SHARED_LIST} is absent")
    return SHARED_LIST


@dataclass
class FileServer:
    """Serves `files` (URL path -> bytes) on 127.0.0.1, honouring `Range: bytes=N-`."""

    files: dict[str, bytes] = field(default_factory=dict)
    ignore_range: bool = False  # answer 200 with the whole file, as some servers do
    cut_after: int | None = None  # announce the full length but send only this many bytes
    requests: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler_for(server: FileServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):
            server.requests.append({"path": self.path, "range": self.headers.get("Range", "")})
            body = server.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if match and not server.ignore_range:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if server.cut_after is not None:
                payload = payload[: server.cut_after]
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def file_server():
    server = FileServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(server))
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening: connections are refused at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port():
    """A local port that accepts connections (the kernel completes the handshake) but
    never answers: what a stalled or black-holed server looks like to a client."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]
