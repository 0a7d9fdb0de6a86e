"""sha256 of bytes and files; file hashes memoised by (real path, size, mtime).

Every content hash evalkit records (audio, suite files, checkpoints, downloads) comes
from here, so the same file always gets the same hash by the same code.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20  # checkpoints are gigabytes: hash in 1 MiB reads


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def cached_sha256(path: str | Path) -> str:
    """sha256_file, hashed once per (real path, size, mtime) and remembered in the cache
    (a lost entry only means hashing again, so entries are not fsynced)."""
    from evalkit.cache import JsonCache, content_key

    real = Path(path).resolve()
    st = real.stat()
    cache = JsonCache("file-sha256", durable=False)
    key = content_key("file-sha256", str(real), st.st_size, st.st_mtime_ns)
    hit = cache.get(key)
    if hit is not None:
        return hit["sha256"]
    sha = sha256_file(real)
    cache.put(key, {"sha256": sha, "path": str(real)})
    return sha
