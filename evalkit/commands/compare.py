"""`evalkit compare BASELINE CANDIDATE`: an A/B page of two runs of one suite."""
from __future__ import annotations

import argparse

from evalkit.commands import add_page_options, announce_page, output_flags, page_kwargs


def register(sub) -> None:
    p = sub.add_parser(
        "compare", parents=[output_flags()], help="A/B HTML page: paired deltas, most regressed and improved items",
        description="Compare two runs of the same suite item by item: paired deltas with 95 % intervals per "
        "summary, and the items that regressed and improved most with both clips side by side.",
    )
    p.add_argument("baseline", metavar="BASELINE", help="run directory (A)")
    p.add_argument("candidate", metavar="CANDIDATE", help="run directory (B)")
    add_page_options(p, "reports/compare-<A>-vs-<B>.html")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from evalkit.report.render import write_compare

    return announce_page(args, write_compare(args.baseline, args.candidate, **page_kwargs(args)))
