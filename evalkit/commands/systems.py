"""`evalkit systems list`."""
from __future__ import annotations

from evalkit.commands import register_listing


def register(sub) -> None:
    register_listing(
        sub, "systems", "SYSTEMS", "list systems",
        footer="plugins: --system package.module:ClassName (a subclass of evalkit.systems.base.System), or an\n"
        "installed package's entry point in the group evalkit.systems (docs/systems.md)",
    )
