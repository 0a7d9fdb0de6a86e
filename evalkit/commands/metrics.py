"""`evalkit metrics list`."""
from __future__ import annotations

from evalkit.commands import register_listing


def register(sub) -> None:
    register_listing(
        sub, "metrics", "METRICS", "list metrics",
        footer="plugins: --metrics package.module:ClassName (a subclass of evalkit.metrics.base.Metric), or an\n"
        "installed package's entry point in the group evalkit.metrics (docs/metrics.md)",
    )
