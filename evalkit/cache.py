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
import secrets
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
    """Write `data` to `path` so that a reader, or a kill at any moment, sees the old
    file or the new one, never a part: written to a temporary in the same folder,
    then renamed over `path`.

    Where the system allows (Linux O_TMPFILE, then linkat), the temporary has no name
    until its bytes are complete, so a kill leaves nothing behind but in the instant
    between naming and renaming; elsewhere a named temporary is removed on any
    exception (not on a kill). The file gets the mode a plain open() would give it
    (0666 less the umask), not mkstemp's 0600. `durable` fsyncs before the rename;
    entries that are cheap to recompute skip it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_anonymous(path, data, durable) or _write_named(path, data, durable)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_anonymous(path: Path, data: bytes, durable: bool) -> Path | None:
    """`data` in an unnamed file in path's folder, linked under a temporary name once
    complete; None where the system offers no way to do that."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return None
    try:
        fd = os.open(path.parent, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError:  # EOPNOTSUPP, EISDIR (old kernels), EINVAL: a filesystem without it
        return None
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        _write_all(fd, data)  # an error here leaves nothing: the file has no name
        if durable:
            os.fsync(fd)
        if not _give_name(fd, tmp):  # write it again under a name
            return None
    finally:
        os.close(fd)
    return tmp


AT_FDCWD, AT_EMPTY_PATH = -100, 0x1000  # <fcntl.h>


def _give_name(fd: int, name: Path) -> bool:
    """Link the unnamed file `fd` as `name`: linkat(AT_EMPTY_PATH) where the process may
    (CAP_DAC_READ_SEARCH), else through /proc/self/fd, which some kernels refuse (EXDEV)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.linkat(fd, b"", AT_FDCWD, os.fsencode(name), AT_EMPTY_PATH) == 0:
            return True
    except (OSError, AttributeError):
        pass
    try:
        os.link(f"/proc/self/fd/{fd}", name, follow_symlinks=True)
        return True
    except OSError:
        return False


def _write_named(path: Path, data: bytes, durable: bool) -> Path:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        _write_all(fd, data)
        if durable:
            os.fsync(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return tmp


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask can
    only be read by setting it, which races with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
