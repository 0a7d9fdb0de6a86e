"""`evalkit report RUN_DIR...`: leaderboard and run pages as one self-contained HTML file."""
from __future__ import annotations

import argparse

from evalkit.commands import add_page_options, add_run_dirs, announce_page, output_flags, page_kwargs


def register(sub) -> None:
    p = sub.add_parser(
        "report", parents=[output_flags()], help="HTML leaderboard and run pages for one or more runs",
        description="Render runs as one HTML file that opens from disk (CSS, script, plots, data and a capped set "
        "of audio clips inline; other clips linked by relative path). See docs/reports.md.",
    )
    add_run_dirs(p)
    add_page_options(p, "reports/<suites>-<systems>.html")
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

    return announce_page(args, write_report(expand_run_dirs(args.run_dirs), **page_kwargs(args)))
