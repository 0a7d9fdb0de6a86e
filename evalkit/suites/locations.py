"""Where a dataset that evalkit does not ship lives on this machine.

`evalkit suites build NAME --root DIR` records DIR as a small JSON pointer in the
suite's data folder (`<data folder>/location.json`), so that every later load finds
the user's existing copy without a flag or an environment variable.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from evalkit.cache import atomic_write_bytes
from evalkit.suites.spec import SuiteError

LOCATION_FILE = "location.json"


def record_location(data_dir: Path, path: Path, source: str) -> Path:
    """Remember `path` (made absolute) for the dataset whose data folder is `data_dir`."""
    record = {
        "path": str(Path(path).expanduser().resolve()),
        "source": source,
        "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target = data_dir / LOCATION_FILE
    atomic_write_bytes(target, (json.dumps(record, indent=2) + "\n").encode())
    return target


def recorded_location(data_dir: Path) -> Path | None:
    """The path recorded for `data_dir`, or None when nothing was recorded."""
    target = data_dir / LOCATION_FILE
    try:
        record = json.loads(target.read_text(encoding="utf-8"))
        return Path(record["path"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SuiteError(f"{target}: unreadable location record ({exc}); delete it and run the build again") from None
