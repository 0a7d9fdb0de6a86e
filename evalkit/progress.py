"""Progress bars on stderr (items done / total, rate, ETA); silent when quiet.

Also used for downloads (bytes) so every long step looks the same.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager

PHASE_LOG_SECONDS = 0.5  # quicker phases (a metric with nothing to load) are not worth a line


class Progress:
    def __init__(self, total: int | None, initial: int = 0, *, quiet: bool = False, desc: str = "",
                 unit: str = "item", unit_scale: bool = False) -> None:
        self.failed = 0
        self.phases: dict[str, float] = {}
        self._status = ""
        self._bar = None
        if quiet:
            return
        from tqdm import tqdm

        self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, unit_scale=unit_scale,
                         file=sys.stderr, dynamic_ncols=True, smoothing=0.1)

    def update(self, n: int = 1, *, failed: bool = False) -> None:
        if failed:
            self.failed += 1
        if self._bar is not None:
            if failed:
                self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.update(n)

    def status(self, text: str) -> None:
        """A line of detail after the counts (e.g. per-worker throughput); shown with the failures."""
        self._status = text
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)

    def _postfix(self) -> str:
        return ", ".join(p for p in (f"failed={self.failed}" if self.failed else "", self._status) if p)

    @contextmanager
    def phase(self, label: str):
        """A step outside the item count (loading models, warming up): shown on the bar while it
        runs, then logged with its duration above the bar; also kept in `phases` (seconds)."""
        start = time.perf_counter()
        if self._bar is not None:
            self._bar.set_postfix_str(f"{label}...", refresh=True)
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            self.phases[label] = self.phases.get(label, 0.0) + seconds
            if self._bar is not None:
                self._bar.set_postfix_str(self._postfix(), refresh=False)
                if seconds >= PHASE_LOG_SECONDS:
                    self._bar.write(f"{label}: {seconds:.1f} s", file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
