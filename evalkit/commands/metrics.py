"""`evalkit metrics list`."""
from __future__ import annotations

from evalkit.commands import register_listing


def register(sub) -> None:
    register_listing(sub, "metrics", "METRICS", "list metrics")
