"""`evalkit baseline save|list`: bless runs as the baselines gates compare against."""
from __future__ import annotations

import argparse

from evalkit.commands import output_flags, print_json


def register(sub) -> None:
    p = sub.add_parser("baseline", help="save or list blessed baselines (baselines/<suite>/<name>.json)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    save = actions.add_parser(
        "save", parents=[output_flags()], help="snapshot a finished run as a baseline",
        description="Store what a gate needs of a finished run (summaries, per-item paired terms, provenance) "
        "as baselines/<suite>/NAME.json. Commit the file to bless it.",
    )
    save.add_argument("run_dir", metavar="RUN_DIR")
    save.add_argument("--name", help="baseline name (default: <system> or <system>-<preset>: espeak, tortoise-fast)")
    save.add_argument("--dir", help="baselines folder (default: the repository's baselines/ or $EVALKIT_BASELINES)")
    save.add_argument("--force", action="store_true", help="replace an existing baseline of that name")
    save.add_argument("--policy", help="policy whose standing rule the run must meet (default: the suite's "
                      "policy.yaml in the baselines folder, else built-in)")
    save.set_defaults(func=save_command)
    listing = actions.add_parser("list", parents=[output_flags()], help="list saved baselines")
    listing.add_argument("--dir", help="baselines folder")
    listing.set_defaults(func=list_command)


def save_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evalkit.baseline import load_baseline, save_baseline

    path = save_baseline(args.run_dir, args.name, Path(args.dir) if args.dir else None, force=args.force,
                         policy=args.policy)
    snap = load_baseline(path)
    if args.json:
        print_json({"path": str(path), "suite": snap.suite, "summaries": snap.summaries})
    elif not args.quiet:
        size_kb = path.stat().st_size / 1024
        print(f"saved {path} ({size_kb:.0f} kB: {len(snap.terms)} gateable summaries x {len(snap.item_ids)} items)")
    return 0


def list_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evalkit.baseline import list_baselines, load_baseline

    rows = []
    for suite, name, path in list_baselines(Path(args.dir) if args.dir else None):
        snap = load_baseline(path)
        main = snap.headline
        value = (snap.summaries.get(main) or {}).get("value")
        rows.append({"suite": suite, "name": name, "system": snap.system.get("name"), "run_id": snap.run_id,
                     "main_metric": main, "value": value, "machine": snap.machine, "path": str(path)})
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            shown = "n/a" if r["value"] is None else f"{r['value']:.4f}"
            print(f"{r['suite']}/{r['name']}  system {r['system']}  {r['main_metric']} {shown}  "
                  f"({r['machine']})  {r['path']}")
    return 0
