"""`evalkit suites list|show NAME|build NAME`."""
from __future__ import annotations

from evalkit.commands import output_flags, print_json, print_table
from evalkit.types import EvalkitError


def register(sub) -> None:
    p = sub.add_parser("suites", help="list, inspect and build prompt suites")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[output_flags()],
                                 help="list the suites: built-in, EVALKIT_SUITES, registered by installed packages")
    listing.set_defaults(func=list_suites)
    show = actions.add_parser("show", parents=[output_flags()], help="describe a suite: spec, hash, items")
    show.add_argument("name", help="suite name or path")
    show.add_argument("--items", type=int, default=5, help="how many items to print (default 5)")
    show.set_defaults(func=show_suite)
    build = actions.add_parser("build", parents=[output_flags()], help="download/prepare a suite's data")
    build.add_argument("name", help="suite name or path")
    build.add_argument("--root", help="use an existing dataset root instead of downloading")
    build.set_defaults(func=build_suite)


def list_suites(args) -> int:
    """Every suite a name finds: folders first (EVALKIT_SUITES, then built-in), then the suites
    installed packages register (whose modules are imported to find their spec files)."""
    import sys

    from evalkit.packaged import builtin_dir
    from evalkit.suites.spec import builtin_suites, plugin_suite_path, plugin_suites, spec_from_file

    builtin = builtin_dir("suites")
    sources = [(name, path, "built-in" if path.parent == builtin else f"EVALKIT_SUITES ({path.parent})")
               for name, path in builtin_suites().items()]
    in_folders = {name for name, _, _ in sources}
    plugins = plugin_suites()
    for name, entry in plugins.entries.items():
        if name in in_folders:
            continue  # a folder's suite of that name wins
        try:
            sources.append((name, plugin_suite_path(name, entry), entry.origin))
        except EvalkitError as exc:
            print(f"evalkit: warning: {exc}", file=sys.stderr)
    for problem in plugins.refused.values():
        print(f"evalkit: warning: {problem}", file=sys.stderr)
    rows = []
    for name, path, origin in sources:
        spec = spec_from_file(path)
        rows.append({"name": name, "version": spec.version, "loader": spec.loader, "main_metric": spec.main_metric,
                     "description": spec.description, "origin": origin, "path": str(path)})
    if args.json:
        print_json(rows)
        return 0
    print_table([(r["name"], f"v{r['version']}", r["origin"], r["description"].split(". ")[0].rstrip("."))
                 for r in rows])
    return 0


def show_suite(args) -> int:
    from evalkit.suites import load_suite

    suite = load_suite(args.name)
    spec = suite.spec
    info = {
        **suite.describe(),
        "description": spec.description,
        "loader": spec.loader,
        "default_system": spec.default_system,
        "metrics": list(spec.metrics),
        "tags": sorted({t for item in suite.items for t in item.tags}),
        "n_with_prompt": sum(i.prompt_audio is not None for i in suite.items),
        "n_with_ground_truth": sum(i.reference_audio is not None for i in suite.items),
        "problems": suite.problems,
        "items": [i.to_json() for i in suite.items[: args.items]],
    }
    if args.json:
        print_json(info)
        return 0
    for key in ("name", "version", "content_hash", "n_items", "main_metric", "default_system", "loader",
                "n_with_prompt", "n_with_ground_truth"):
        print(f"{key:20} {info[key]}")
    print(f"{'metrics':20} {', '.join(info['metrics'])}")
    if info["tags"]:
        print(f"{'tags':20} {', '.join(info['tags'])}")
    print(f"{'spec':20} {info['spec']}")
    print(f"\n{spec.description}\n")
    for item in suite.items[: args.items]:
        print(f"  {item.id}: {item.text}")
    if len(suite.items) > args.items:
        print(f"  ... {len(suite.items) - args.items} more")
    for problem in suite.problems.values():
        print(f"PROBLEM {problem}")
    return 0


def build_suite(args) -> int:
    from pathlib import Path

    from evalkit.registry import import_target
    from evalkit.suites import find_spec
    from evalkit.suites.spec import BUILDERS

    spec = find_spec(args.name)
    if spec.loader not in BUILDERS:
        if not (args.quiet or args.json):
            print(f"suite {spec.name!r} needs no build step: its items ship with {spec.path}")
        return 0
    builder = import_target(BUILDERS[spec.loader])
    result = builder(spec, Path(args.root).expanduser() if args.root else None, quiet=args.quiet or args.json)
    if args.json:
        print_json({"suite": spec.name, "result": result})
    elif not args.quiet:
        print(f"suite {spec.name!r} is ready: {result}")
    return 0
