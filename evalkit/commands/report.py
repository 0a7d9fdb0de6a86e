"""`evalkit report RUN_DIR...`: leaderboard and run pages as one self-contained HTML file."""
from __future__ import annotations

import argparse

from evalkit.commands import output_flags, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "report", parents=[output_flags()], help="HTML leaderboard and run pages for one or more runs",
        description="Render runs as one HTML file that opens from disk (CSS, script, plots, data and a capped set "
        "of audio clips inline; other clips linked by relative path). See docs/reports.md.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories (a folder holding many runs is searched)")
    p.add_argument("--out", help="HTML file to write (default: reports/<suites>-<systems>.html)")
    p.add_argument("--bundle", metavar="DIR", help="write DIR/index.html plus DIR/audio/ (a folder to publish as is)")
    p.add_argument("--embed-mb", type=float, default=20.0,
                   help="audio embedded in the page, at most this many MB (default 20; 0 links every clip)")
    p.set_defaults(func=run)


def expand_run_dirs(paths: list[str]) -> list[str]:
    """Run directories as given, and every run found under a folder that is not one."""
    from pathlib import Path

    from evalkit.store import RUN_FILE, iter_run_dirs
    from evalkit.types import EvalkitError

    out = []
    for path in map(Path, paths):
        if (path / RUN_FILE).is_file():
            out.append(str(path))
        elif path.is_dir():
            found = [str(p) for p in iter_run_dirs(path)]
            if not found:
                raise EvalkitError(f"{path}: no run directories (folders with a run.json) under it")
            out += found
        else:
            raise EvalkitError(f"{path}: not a run directory")
    return out


def run(args: argparse.Namespace) -> int:
    from evalkit.report.render import write_report

    path = write_report(expand_run_dirs(args.run_dirs), out=args.out, bundle=args.bundle,
                        embed_budget=int(args.embed_mb * 1024 * 1024))
    if args.json:
        print_json({"report": str(path)})
    elif not args.quiet:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
