"""Progress bars on stderr (items done / total, rate, ETA); silent when quiet.

Also used for downloads (bytes) so every long step looks the same.
"""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, total: int | None, initial: int = 0, *, quiet: bool = False, desc: str = "",
                 unit: str = "item", unit_scale: bool = False) -> None:
        self.failed = 0
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
                self._bar.set_postfix(failed=self.failed, refresh=False)
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
