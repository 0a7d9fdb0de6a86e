"""`evalkit compare BASELINE CANDIDATE`: an A/B page of two runs of one suite."""
from __future__ import annotations

import argparse

from evalkit.commands import output_flags, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "compare", parents=[output_flags()], help="A/B HTML page: paired deltas, most regressed and improved items",
        description="Compare two runs of the same suite item by item: paired deltas with 95%% intervals per "
        "summary, and the items that regressed and improved most with both clips side by side.",
    )
    p.add_argument("baseline", metavar="BASELINE", help="run directory (A)")
    p.add_argument("candidate", metavar="CANDIDATE", help="run directory (B)")
    p.add_argument("--out", help="HTML file to write (default: reports/compare-<A>-vs-<B>.html)")
    p.add_argument("--bundle", metavar="DIR", help="write DIR/index.html plus DIR/audio/ (a folder to publish as is)")
    p.add_argument("--embed-mb", type=float, default=20.0,
                   help="audio embedded in the page, at most this many MB (default 20; 0 links every clip)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from evalkit.report.render import write_compare

    path = write_compare(args.baseline, args.candidate, out=args.out, bundle=args.bundle,
                         embed_budget=int(args.embed_mb * 1024 * 1024))
    if args.json:
        print_json({"report": str(path)})
    elif not args.quiet:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
