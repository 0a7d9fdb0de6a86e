"""sha256 of bytes and files; large file hashes memoised by what identifies the file's bytes.

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


# Below this a file is hashed every time (about a millisecond): only checkpoints and
# long recordings are worth remembering.
UNCACHED_BYTES = 1 << 20


def cached_sha256(path: str | Path) -> str:
    """sha256_file, remembered in the cache for files of UNCACHED_BYTES or more (a lost
    entry only means hashing again, so entries are not fsynced).

    The key is the real path, device, inode, size, mtime *and ctime*: an in-place edit
    whose mtime was put back (touch -d, os.utime, a copy tool preserving times) still
    changes the ctime, which no user call can set, so it is hashed again. `evalkit
    weights verify` always hashes in full."""
    from evalkit.cache import JsonCache, content_key

    real = Path(path).resolve()
    st = real.stat()
    if st.st_size < UNCACHED_BYTES:
        return sha256_file(real)
    cache = JsonCache("file-sha256", durable=False)
    key = content_key("file-sha256", 2, str(real), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    hit = cache.get(key)
    if hit is not None:
        return hit["sha256"]
    sha = sha256_file(real)
    cache.put(key, {"sha256": sha, "path": str(real)})
    return sha
