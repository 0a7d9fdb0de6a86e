"""`evalkit export RUN_DIR... [--format csv|parquet|jsonl] [--out FILE]`: one row per item per run."""
from __future__ import annotations

import argparse

from evalkit.commands import add_run_dirs, output_flags, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "export", parents=[output_flags()], help="write runs as a table: one row per item per run",
        description="One row per item per run: ids, tags, text, transcript, every per-item score, failures, "
        "timings, run id, system and checkpoint hashes (columns: docs/run-directory.md).",
    )
    add_run_dirs(p)
    p.add_argument("--format", choices=("csv", "parquet", "jsonl"),
                   help="table format (default: from --out's suffix, else csv; parquet needs pyarrow)")
    p.add_argument("--out", help="file to write (default: csv and jsonl to standard output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from evalkit.commands.report import expand_run_dirs
    from evalkit.export import format_for, samples_frame, table_bytes, write_table
    from evalkit.runlog import load_run
    from evalkit.types import EvalkitError

    fmt = format_for(args.out, args.format)
    runs = [load_run(d) for d in expand_run_dirs(args.run_dirs)]
    frame = samples_frame(runs)
    if args.out is None:
        if fmt == "parquet":
            raise EvalkitError("--format parquet writes a binary file: give it with --out FILE")
        sys.stdout.buffer.write(table_bytes(frame, fmt))
        sys.stdout.flush()
        return 0
    path = write_table(frame, fmt, args.out)
    if args.json:
        print_json({"path": str(path), "format": fmt, "rows": len(frame), "runs": len(runs)})
    elif not args.quiet:
        print(f"wrote {path}: {len(frame)} rows from {len(runs)} run(s), {len(frame.columns)} columns")
    return 0
