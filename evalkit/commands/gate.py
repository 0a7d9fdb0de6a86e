"""`evalkit gate`: fail CI when a candidate run regresses against a baseline.

    evalkit gate --candidate RUN_DIR [--baseline NAME|FILE|RUN_DIR] [--policy FILE] [--junit FILE]
    evalkit gate calibrate RUN_DIR... [--out POLICY.yaml] [--margin 2]

Exit codes: 0 pass, 1 regression, 2 not comparable or incomplete.
"""
from __future__ import annotations

import argparse

from evalkit.commands import output_flags, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "gate", parents=[output_flags()], help="compare a candidate run with a baseline; exit 1 on regression",
        description="Paired bootstrap comparison of a candidate run against a baseline, summary by summary. "
        "Exit 0 pass, 1 regression, 2 not comparable or incomplete. See docs/ci.md.",
    )
    p.add_argument("--baseline", help="saved baseline name (baselines/<suite>/NAME.json), baseline file, or run "
                   "directory (default: the candidate's <system> or <system>-<preset>)")
    p.add_argument("--candidate", help="run directory to judge")
    p.add_argument("--policy", help="policy YAML (default: baselines/<suite>/policy.yaml if present, else built-in)")
    p.add_argument("--junit", help="also write JUnit XML here (one testcase per summary)")
    p.add_argument("--out", help="gate.json path (default: <candidate>/gate.json)")
    p.set_defaults(func=run_gate)
    actions = p.add_subparsers(dest="action", metavar="[calibrate]")
    cal = actions.add_parser(
        "calibrate", parents=[output_flags()], help="derive tolerances from repeated runs of one checkpoint",
        description="Given runs of the same system and checkpoint that differ only in seed, measure how much "
        "each summary moves between them (the noise floor) and write a policy whose tolerances are that "
        "movement times a safety margin.",
    )
    cal.add_argument("runs", nargs="+", metavar="RUN_DIR", help="two or more run directories")
    cal.add_argument("--out", help="policy YAML to write (default: print it)")
    cal.add_argument("--margin", type=float, default=2.0,
                     help="tolerance = margin x noise floor (the largest |delta| or standard error over run pairs; "
                     "default 2)")
    cal.add_argument("--policy", help="policy to start from (failure rate, required metrics, other entries)")
    cal.set_defaults(func=run_calibrate)


def run_gate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evalkit.api import compare
    from evalkit.gating.outputs import GATE_FILE, gate_json, markdown, write_outputs
    from evalkit.types import EvalkitError

    if not args.candidate:
        raise EvalkitError("gate needs --candidate RUN_DIR (or: evalkit gate calibrate RUN_DIR...)")
    if not Path(args.candidate).is_dir():
        raise EvalkitError(f"--candidate {args.candidate}: not a run directory")
    result = compare(args.baseline, args.candidate, args.policy)
    write_outputs(result, Path(args.out) if args.out else Path(args.candidate) / GATE_FILE,
                  Path(args.junit) if args.junit else None)
    if args.json:
        print_json(gate_json(result))
    else:
        print(markdown(result), end="")
    return result.exit_code


def run_calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evalkit.baseline import load_suite_policy
    from evalkit.cache import atomic_write_bytes
    from evalkit.gating.calibrate import calibrate, describe
    from evalkit.gating.policy import dump_policy
    from evalkit.gating.snapshot import snapshot_run

    snapshots = [snapshot_run(r) for r in args.runs]
    policy, noise = calibrate(snapshots, load_suite_policy(args.policy, snapshots[0].suite.get("name")), args.margin)
    text = dump_policy(policy, header=describe(snapshots, args.margin))
    if args.out:
        atomic_write_bytes(Path(args.out), text.encode("utf-8"))
    if args.json:
        print_json({"policy": policy.to_json(), "noise": noise})
    elif not args.quiet:
        print(text if not args.out else f"wrote {args.out}\n{text}", end="")
    return 0
