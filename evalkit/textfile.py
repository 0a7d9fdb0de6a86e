"""Reading a user's text file (suite, list, baseline, policy) with errors that name it."""
from __future__ import annotations

from pathlib import Path

from evalkit.types import EvalkitError


def read_text(path: Path, error: type[EvalkitError] = EvalkitError, label: str = "") -> str:
    """The file's UTF-8 text; an unreadable or non-UTF-8 file raises `error` naming it."""
    where = f"{label} {path}" if label else str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{where}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise error(f"{where}: not UTF-8 text") from None
