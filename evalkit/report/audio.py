"""Which clips a report embeds and which it links.

Embedding every clip of a 1,127-item run would make a file of hundreds of megabytes,
so a report embeds (base64 data URIs) only a capped set -- each run's worst items and
a fixed random sample -- and links the rest by relative path. With `--bundle DIR` the
linked files are copied into DIR/audio/ so the folder can be published as is.

A bundle is updated so that a kill at any moment leaves the previous complete bundle
or the new one: its clips are named by their content (a name always holds the same
bytes, so an existing clip is never rewritten), each is written atomically, the page
is replaced last, and only then are clips no page refers to any more removed.

Each clip is stored once under a key (prompts are shared by many items); the page's
script looks the key up when it builds an <audio> element.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from urllib.parse import quote

# About 20 MB of base64 (15 MB of FLAC: ~100 clips of 6 s at 22 kHz): a file that
# still opens in a second from disk and can be attached to an issue or a CI run.
EMBED_BUDGET_BYTES = 20 * 1024 * 1024
BUNDLE_AUDIO = "audio"
BUNDLED_NAME = re.compile(r"[0-9a-f]{32}\.(flac|wav|mp3|ogg)")
MIME_TYPES = {".flac": "audio/flac", ".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg"}


class AudioCatalog:
    """Clip key -> page source (data URI or relative link)."""

    def __init__(self, page_dir: Path, bundle_dir: Path | None = None, budget: int = EMBED_BUDGET_BYTES) -> None:
        self.page_dir = page_dir.resolve()
        self.bundle_dir = bundle_dir
        self.budget = budget
        self.used = 0
        self.sources: dict[str, str] = {}
        self.embedded: set[str] = set()
        self.bundled: set[str] = set()  # file names under bundle_dir/audio the page refers to

    def add(self, path: str | Path | None, embed: bool = False) -> str | None:
        """Register a clip; embed it if asked and the budget allows, else link it.
        Returns its key, or None when there is no such file."""
        if path is None:
            return None
        path = Path(path).resolve()
        key = hashlib.sha256(str(path).encode()).hexdigest()[:16]
        if key in self.embedded or (key in self.sources and not embed):
            return key
        if not path.is_file():
            return None
        if embed and self._embed(key, path):
            return key
        self.sources[key] = self._link(key, path)
        return key

    def _embed(self, key: str, path: Path) -> bool:
        size = (path.stat().st_size + 2) // 3 * 4  # base64 length
        if self.used + size > self.budget:
            return False
        mime = MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")
        self.sources[key] = f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"
        self.embedded.add(key)
        self.used += size
        return True

    def _link(self, key: str, path: Path) -> str:
        if self.bundle_dir is None:  # percent-encoded: a '#' or '?' in a folder name must not end the path
            return quote(Path(os.path.relpath(path, self.page_dir)).as_posix())
        from evalkit.cache import atomic_write_bytes
        from evalkit.hashing import cached_sha256

        name = f"{cached_sha256(path)[:32]}{path.suffix.lower()}"
        target = self.bundle_dir / BUNDLE_AUDIO / name
        if not target.is_file():
            atomic_write_bytes(target, path.read_bytes(), durable=True)
        self.bundled.add(name)
        return f"{BUNDLE_AUDIO}/{name}"

    def prune_bundle(self) -> None:
        """Remove the bundle's clips that the page just written does not refer to (call
        after the page is in place: until then the previous page may refer to them)."""
        folder = self.bundle_dir / BUNDLE_AUDIO if self.bundle_dir else None
        if folder is None or not folder.is_dir():
            return
        for old in folder.iterdir():  # only names this catalog makes: never a user's own files
            if old.name not in self.bundled and BUNDLED_NAME.fullmatch(old.name) and old.is_file():
                old.unlink(missing_ok=True)
