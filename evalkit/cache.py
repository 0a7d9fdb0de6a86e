"""Content-addressed caches for generations and scores.

Keys are sha256 hex digests of canonical JSON (content hashes, never paths). Values
are small JSON documents; audio lives in a content-addressed blob folder next to them.
Writes go to a temporary name and are renamed into place, so a crash never leaves a
half-written entry and two processes writing the same key write the same content.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """`EVALKIT_CACHE`, else `$XDG_CACHE_HOME/evalkit`, else `~/.cache/evalkit`."""
    env = os.environ.get("EVALKIT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "evalkit"


def content_key(*parts: Any) -> str:
    """sha256 of the canonical JSON of `parts`."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to `path` via a temporary file in the same folder + rename.

    `durable` fsyncs before the rename; entries that are cheap to recompute skip it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JsonCache:
    """A namespace of JSON entries under the cache root: `<root>/<namespace>/ab/abcd....json`."""

    def __init__(self, namespace: str, root: Path | None = None, *, durable: bool = True) -> None:
        self.dir = (root or cache_root()) / namespace
        self.durable = durable

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            # A foreign or damaged entry is a miss, never a crash; it gets rewritten.
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        atomic_write_bytes(self._path(key), json.dumps(value, sort_keys=True).encode(), durable=self.durable)


class BlobCache:
    """Content-addressed files: `<root>/<namespace>/ab/<sha256><suffix>`."""

    def __init__(self, namespace: str, root: Path | None = None) -> None:
        self.dir = (root or cache_root()) / namespace

    def path(self, sha256: str, suffix: str) -> Path:
        return self.dir / sha256[:2] / f"{sha256}{suffix}"

    def put(self, sha256: str, suffix: str, data: bytes) -> Path:
        target = self.path(sha256, suffix)
        if not target.exists():
            atomic_write_bytes(target, data)
        return target
