"""`evalkit metrics list`."""
from __future__ import annotations

from evalkit.commands import output_flags, print_json


def register(sub) -> None:
    p = sub.add_parser("metrics", help="list metrics")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[output_flags()], help="list the built-in metrics")
    listing.set_defaults(func=list_metrics)


def list_metrics(args) -> int:
    from evalkit.registry import METRICS

    described = METRICS.describe()
    if args.json:
        print_json(described)
    else:
        width = max(map(len, described))
        for name, text in described.items():
            print(f"{name.ljust(width)}  {text}")
    return 0
