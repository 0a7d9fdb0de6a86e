"""Fetching published files: resumable, checksum-verified HTTP downloads and safe tar extraction.

Standard library only (urllib, tarfile), so it serves datasets and model weights alike.
A download streams into `<dest>.part` with a progress bar; when interrupted, the next
attempt asks the server for the rest (an HTTP Range request) instead of starting over.
The finished file is checked against its pinned sha256 before it is renamed to `dest`,
so a file at `dest` is always complete and verified. A host that cannot be reached
fails within `timeout_s`, and every error names the URL, the exact path where the file
can be put by hand, and its checksum.
"""
from __future__ import annotations

import http.client
import os
import re
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from evalkit import __version__
from evalkit.progress import Progress
from evalkit.types import EvalkitError

# Long enough for a slow handshake, short enough that an offline machine gives up in
# seconds; it also bounds every read, so a stalled transfer fails instead of hanging.
TIMEOUT_S = 10.0
CHUNK_BYTES = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")


class DownloadError(EvalkitError):
    """A file that could not be fetched or failed verification; the message says what to do."""


class ChecksumMismatch(DownloadError):
    pass


@dataclass(frozen=True)
class Remote:
    """A published file pinned by content."""

    url: str
    sha256: str | None  # None: not pinned yet (the caller records what it gets)
    size: int | None = None  # bytes, when known: progress total and a cheap early check
    label: str = ""  # what the file is, for messages and the progress bar

    @property
    def what(self) -> str:
        return self.label or self.url.rsplit("/", 1)[-1]

    def manual_hint(self, dest: Path) -> str:
        size = f", {self.size:,} bytes" if self.size else ""
        sha = f"sha256 {self.sha256}" if self.sha256 else "sha256 not pinned"
        return f"to install it by hand, download {self.url} and save it as {dest} ({sha}{size})"


def offline() -> bool:
    """`EVALKIT_OFFLINE=1` forbids network access: downloads fail at once."""
    return os.environ.get("EVALKIT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def fetch(remote: Remote, dest: Path, *, quiet: bool = False, timeout_s: float = TIMEOUT_S) -> Path:
    """Make `dest` a verified copy of `remote`, downloading (or resuming) only what is missing."""
    dest = Path(dest)
    if dest.is_file():
        verify(remote, dest)
        return dest
    if offline():
        raise DownloadError(f"cannot download {remote.what}: EVALKIT_OFFLINE is set; {remote.manual_hint(dest)}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    if remote.size is None or have < remote.size:
        _transfer(remote, part, have, dest, quiet=quiet, timeout_s=timeout_s)
    have = part.stat().st_size
    if remote.size is not None and have < remote.size:
        raise _interrupted(remote, part, f"the server sent {have:,} of {remote.size:,} bytes")
    try:
        verify(remote, part)
    except ChecksumMismatch:
        part.unlink()  # resuming a corrupt file would never succeed
        raise
    os.replace(part, dest)
    return dest


def verify(remote: Remote, path: Path) -> None:
    """Raise ChecksumMismatch unless `path` has the pinned size and sha256 (when pinned)."""
    from evalkit.hashing import sha256_file

    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise ChecksumMismatch(
            f"{path}: {size:,} bytes, expected {remote.size:,} for {remote.what} from {remote.url}; "
            "delete the file and try again"
        )
    if remote.sha256 is None:
        return
    actual = sha256_file(path)
    if actual != remote.sha256:
        raise ChecksumMismatch(
            f"{path}: sha256 {actual} does not match the pinned {remote.sha256} for {remote.what} "
            f"from {remote.url}; delete the file and try again"
        )


def _transfer(remote: Remote, part: Path, have: int, dest: Path, *, quiet: bool, timeout_s: float) -> None:
    """Append the rest of `remote` to `part`, which already holds its first `have` bytes."""
    headers = {"User-Agent": f"evalkit/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(remote.url, headers=headers), timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part is complete (verified next)
            return
        raise DownloadError(
            f"cannot download {remote.what}: {remote.url} answered HTTP {exc.code} {exc.reason}; "
            f"{remote.manual_hint(dest)}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot download {remote.what}: {remote.url} is unreachable ({reason}); {remote.manual_hint(dest)}"
        ) from None
    with response:
        if have and _resume_offset(response, have) != have:
            have = 0  # the server ignored or misread the range: start over
        length = response.headers.get("Content-Length")
        total = remote.size or (have + int(length) if length else None)
        progress = Progress(total, have, quiet=quiet, desc=remote.what, unit="B", unit_scale=True)
        received = 0
        try:
            with open(part, "ab" if have else "wb") as f:
                while block := response.read(CHUNK_BYTES):
                    f.write(block)
                    received += len(block)
                    progress.update(len(block))
                f.flush()
                os.fsync(f.fileno())
        except (OSError, http.client.HTTPException) as exc:
            raise _interrupted(remote, part, str(exc) or type(exc).__name__) from None
        finally:
            progress.close()
    # http.client ends a body cut short by the server quietly: compare with what it announced.
    if length and received < int(length):
        raise _interrupted(remote, part, f"the connection closed after {received:,} of {int(length):,} bytes")


def _interrupted(remote: Remote, part: Path, why: str) -> DownloadError:
    return DownloadError(
        f"download of {remote.what} from {remote.url} was interrupted ({why}); "
        f"{part.stat().st_size:,} bytes are kept in {part}: run the command again to resume"
    )


def _resume_offset(response, requested: int) -> int | None:
    """Where a 206 Partial Content response starts (a 206 without a Content-Range header
    is taken to honour the requested offset); None for a full (200) response."""
    if response.status != 206:
        return None
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else requested


def extract_tar(archive: Path, dest: Path, *, quiet: bool = False) -> None:
    """Extract every member of `archive` under `dest`, refusing any member that would land
    outside it (`..` paths, absolute paths, links pointing out) and device files: tarfile's
    'data' filter, applied member by member so that the progress bar can move."""
    dest.mkdir(parents=True, exist_ok=True)
    progress = Progress(None, quiet=quiet, desc=f"extracting {archive.name}", unit="B", unit_scale=True)
    try:
        with tarfile.open(archive) as tar:
            tar.errorlevel = 2  # raise on every problem, never log and go on
            for member in tar:
                try:
                    tar.extract(member, dest, filter="data")
                except tarfile.FilterError as exc:
                    raise DownloadError(
                        f"{archive}: refusing to extract member {member.name!r} ({exc}); "
                        "the archive is not what it claims to be"
                    ) from None
                progress.update(member.size)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"{archive}: cannot extract ({exc}); delete it and download it again") from None
    finally:
        progress.close()
