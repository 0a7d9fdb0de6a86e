"""`evalkit systems list`."""
from __future__ import annotations

from evalkit.commands import output_flags, print_json


def register(sub) -> None:
    p = sub.add_parser("systems", help="list systems")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[output_flags()], help="list the built-in systems")
    listing.set_defaults(func=list_systems)


def list_systems(args) -> int:
    from evalkit.registry import SYSTEMS

    described = SYSTEMS.describe()
    if args.json:
        print_json(described)
    else:
        width = max(map(len, described))
        for name, text in described.items():
            print(f"{name.ljust(width)}  {text}")
        print("\nplugins: --system package.module:ClassName (a subclass of evalkit.systems.base.System)")
    return 0
