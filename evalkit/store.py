"""The run directory: run.json, samples.jsonl, metrics.json, audio/.

Written by one process (the driver), guarded by an exclusive lock. samples.jsonl is
append-only: each finished item is one line, written, flushed and fsynced before the
next item is reported done. A kill -9 can only tear the last line; on reopening, a
torn tail is detected and cut off. Audio is content-addressed (`audio/<sha256>.flac`)
and written to a temporary name then renamed, so a file that exists is complete.
"""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterator

from evalkit.cache import atomic_write_bytes
from evalkit.schema import Sample
from evalkit.types import EvalkitError, ItemError

__all__ = ["RunStore", "StoreError", "load_run", "read_samples", "write_json"]
RUN_FILE = "run.json"
SAMPLES_FILE = "samples.jsonl"
METRICS_FILE = "metrics.json"
AUDIO_DIR = "audio"


class StoreError(EvalkitError):
    pass


def read_samples(path: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """Records by item id, and the byte length of the valid prefix of the file.

    A last line without its newline, or that is not valid JSON, is a torn write and
    is excluded from the valid prefix; a damaged line elsewhere is an error. If an
    id occurs twice, the later record wins.
    """
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records, 0
    data = path.read_bytes()
    valid = 0
    lines = data.split(b"\n")
    for index, raw in enumerate(lines):
        is_last = index == len(lines) - 1
        if is_last and raw == b"":
            break  # file ends with a newline: nothing torn
        try:
            record = json.loads(raw)
            if is_last:
                raise ValueError("no trailing newline")
        except (ValueError, UnicodeDecodeError):
            if is_last:
                break
            raise StoreError(f"{path}: line {index + 1} is damaged (not JSON); the file was edited by hand?") from None
        records[record["item_id"]] = record
        valid += len(raw) + 1
    return records, valid


class RunStore:
    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)
        self.samples_path = self.dir / SAMPLES_FILE
        self.audio_dir = self.dir / AUDIO_DIR
        self._lock_file = None
        self._samples = None

    # -- lifecycle ---------------------------------------------------------------
    def open(self) -> dict[str, dict[str, Any]]:
        """Create/lock the directory, repair a torn tail; return finished records."""
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.dir / ".lock", "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"{self.dir} is in use by another evalkit process") from None
        records, valid = read_samples(self.samples_path)
        if self.samples_path.exists() and self.samples_path.stat().st_size != valid:
            with open(self.samples_path, "r+b") as f:  # drop the torn last line
                f.truncate(valid)
        self._samples = open(self.samples_path, "ab")
        return records

    def close(self) -> None:
        if self._samples is not None:
            self._samples.close()
            self._samples = None
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files ---------------------------------------------------------------------
    def read_run_info(self) -> dict[str, Any] | None:
        path = self.dir / RUN_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def write_run_info(self, info: dict[str, Any]) -> None:
        write_json(self.dir / RUN_FILE, info)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.dir / METRICS_FILE, metrics)

    def put_audio(self, sha256: str, flac: bytes) -> str:
        """Store FLAC bytes by content; returns the path relative to the run dir."""
        rel = f"{AUDIO_DIR}/{sha256}.flac"
        target = self.dir / rel
        if not target.exists():
            atomic_write_bytes(target, flac)
        return rel

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append one finished item; durable when this returns. Returns what was stored:
        the record, or for one holding text UTF-8 cannot encode (a lone surrogate from a
        plugin's extras or an error message), that item as a failure naming the field,
        so that no item can make a run unfinishable."""
        try:
            data = (json.dumps(record, ensure_ascii=False, allow_nan=False, default=str) + "\n").encode()
        except UnicodeEncodeError:
            record = unencodable_failure(record)
            data = (json.dumps(record, ensure_ascii=False, allow_nan=False, default=str) + "\n").encode()
        self._samples.write(data)
        self._samples.flush()
        os.fsync(self._samples.fileno())
        return record

    def rewrite_samples(self, records: list[dict[str, Any]]) -> None:
        """Replace samples.jsonl atomically (used to drop failed items before a retry)."""
        self._samples.close()
        data = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
        atomic_write_bytes(self.samples_path, data.encode())
        self._samples = open(self.samples_path, "ab")


def unencodable_failure(record: dict[str, Any]) -> dict[str, Any]:
    """A failed-item record in place of one that holds text UTF-8 cannot encode: the
    item's own fields kept (surrogates replaced by U+FFFD), its outputs dropped, and an
    error at stage "store" that names the fields. A rerun with --retry-failed retries it."""
    where = sorted(_unencodable_fields(record))
    clean = _scrub(record)
    error = ItemError("UnencodableText", f"item {clean['item_id']!r}: {', '.join(where)} held text that UTF-8 "
                      "cannot encode (a lone surrogate such as \\ud800); the item's results could not be stored",
                      "store")
    return Sample(
        item_id=clean["item_id"], text=clean.get("text"), tags=tuple(clean.get("tags", ())), seed=record.get("seed"),
        audio=None, timing=None, system_extras={}, scores={}, not_applicable={}, metric_errors={}, error=error,
        finished=record.get("finished"),
    ).to_json()


def _unencodable_fields(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            yield path or "a value"
    elif isinstance(value, dict):
        for key, item in value.items():
            field = f"{path}.{_scrub(str(key))}".lstrip(".")
            yield from _unencodable_fields(str(key), field)  # the key itself
            yield from _unencodable_fields(item, field)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _unencodable_fields(item, f"{path}[{index}]")


def _scrub(value: Any) -> Any:
    """`value` with every lone surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    if isinstance(value, dict):
        return {_scrub(str(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    """Atomically; text UTF-8 cannot encode (a command line with undecodable bytes) is
    written as JSON escapes, which read back to the same strings."""
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
        atomic_write_bytes(path, text.encode())
    except UnicodeEncodeError:
        atomic_write_bytes(path, (json.dumps(data, indent=2, default=str) + "\n").encode())


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    """(run.json, samples in file order, metrics.json or None) of a finished or partial run."""
    run_dir = Path(run_dir)
    info_path = run_dir / RUN_FILE
    if not info_path.exists():
        raise StoreError(f"{run_dir}: not a run directory (no {RUN_FILE})")
    info = _read_json(info_path)
    records, _ = read_samples(run_dir / SAMPLES_FILE)
    metrics_path = run_dir / METRICS_FILE
    metrics = _read_json(metrics_path) if metrics_path.exists() else None
    return info, list(records.values()), metrics


def _read_json(path: Path) -> Any:
    """A run file's JSON; an unreadable or damaged one is a StoreError naming it."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise StoreError(f"{path}: damaged ({exc}); it was edited or copied in part?") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path}: damaged (not a JSON object)")
    return data


def run_state(run_dir: str | Path) -> str:
    """What a run directory holds, in words, for one that cannot be shown or judged
    (unfinished, stopped at setup, damaged)."""
    run_dir = Path(run_dir)
    try:
        info, records, metrics = load_run(run_dir)
    except EvalkitError as exc:
        return str(exc)
    planned = (info.get("suite") or {}).get("n_items")
    limit = ((info.get("invocations") or [{}])[-1] or {}).get("limit")
    if limit and planned:
        planned = min(limit, planned)
    if metrics is None:
        what = "stopped before scoring any item (failed at setup, or interrupted)" if not records else "interrupted"
        return f"no metrics.json: {len(records)} of {planned} items recorded; {what}"
    if not metrics.get("complete"):
        return f"unfinished: {metrics.get('n_done')} of {metrics.get('n_items')} items"
    return "complete"


def iter_run_dirs(root: Path) -> Iterator[Path]:
    """Every run directory under `root` (those holding a run.json)."""
    for path in sorted(root.rglob(RUN_FILE)):
        yield path.parent
