"""`evalkit sweep`: checkpoints x presets x seeds over one suite, as one job, with one page."""
from __future__ import annotations

import argparse

from evalkit.commands import executor_flags, make_executor, output_flags, print_json
from evalkit.commands.run import add_run_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", parents=[output_flags(), executor_flags()], help="a matrix of runs: checkpoints x presets x seeds",
        description="Run every combination of checkpoints, presets and seeds on one suite (each an ordinary, "
        "resumable run directory), then write one page that groups the seeds of each configuration and compares "
        "every checkpoint with the first (or --reference). Rerunning the same command resumes. See docs/scale.md.",
    )
    add_run_arguments(p)
    p.add_argument("--checkpoints", metavar="GLOB", help="checkpoint files for --component, e.g. 'ckpts/*.pth' "
                   "(quoted; commas separate several globs)")
    p.add_argument("--component", default="autoregressive",
                   help="the model component the checkpoints replace (default: autoregressive)")
    p.add_argument("--presets", help="comma-separated presets (default: the system's default)")
    p.add_argument("--seeds", default="0", help="comma-separated run seeds (default: 0)")
    p.add_argument("--reference", help="checkpoint the others are compared with: a path or file name "
                   "(default: the first)")
    p.add_argument("--runs-dir", default="runs", help="where the cells' run directories go: "
                   "RUNS_DIR/<suite>/<system>/<run_id> (default: runs)")
    p.add_argument("--report", metavar="FILE", help="the sweep page (default: reports/sweep-<suite>-<system>.html)")
    p.set_defaults(func=run)


def _seeds(text: str) -> tuple[int, ...]:
    from evalkit.types import EvalkitError

    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise EvalkitError(f"--seeds {text!r}: expected comma-separated integers") from None


def build_sweep(args: argparse.Namespace):
    import dataclasses
    from pathlib import Path

    from evalkit.commands.run import build_config
    from evalkit.sweep import SweepConfig, expand_checkpoints

    base = dataclasses.replace(build_config(args), runs_dir=Path(args.runs_dir))
    presets = tuple(p.strip() for p in args.presets.split(",") if p.strip()) if args.presets else (None,)
    return SweepConfig(base=base, checkpoints=expand_checkpoints(args.checkpoints) if args.checkpoints else (),
                       component=args.component, presets=presets, seeds=_seeds(args.seeds), reference=args.reference)


def main_value(summary: dict) -> float | None:
    return (summary["metrics"].get(summary["main_metric"]) or {}).get("value")


def run(args: argparse.Namespace) -> int:
    import re
    from pathlib import Path

    from evalkit.report.sweep import write_sweep_report
    from evalkit.summary import format_value
    from evalkit.sweep import reference_checkpoint, run_sweep

    sweep = build_sweep(args)
    with make_executor(args) as executor:
        results = run_sweep(sweep, executor)
    first = results[0][1]
    suite, system = first.metrics["suite"]["name"], first.metrics["system"]
    report = Path(args.report or f"reports/sweep-{re.sub(r'[^A-Za-z0-9._-]+', '_', f'{suite}-{system}')}.html")
    page = write_sweep_report([(cell, result.run_dir) for cell, result in results], reference_checkpoint(sweep), report)
    cells = [{"checkpoint": c.checkpoint, "preset": c.preset, "seed": c.seed, "run_dir": str(r.run_dir),
              "main_metric": r.metrics["main_metric"], "value": main_value(r.metrics), "n_failed": r.n_failed,
              "complete": r.metrics["complete"]} for c, r in results]
    if args.json:
        print_json({"report": str(page), "cells": cells})
    else:
        for cell in cells:
            name = Path(cell["checkpoint"]).name if cell["checkpoint"] else "-"
            print(f"{name}  {cell['preset'] or '-'}  seed {cell['seed']}  {cell['main_metric']} "
                  f"{format_value(cell['value'])}  {cell['n_failed']} failed  {cell['run_dir']}")
        print(f"wrote {page}")
    return 0
