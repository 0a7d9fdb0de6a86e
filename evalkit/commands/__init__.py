"""One module per CLI command; see evalkit.cli."""
from __future__ import annotations

import argparse


def output_flags() -> argparse.ArgumentParser:
    """-q/--quiet and --json, shared by every command."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-q", "--quiet", action="store_true", help="no progress bars or chatter")
    parent.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    return parent


def executor_flags() -> argparse.ArgumentParser:
    """--executor and the Ray options, shared by `run` and `sweep` (see docs/scale.md)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("where it runs (see docs/scale.md)")
    group.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="local: this process (default); ray: Ray workers on this machine or a cluster")
    group.add_argument("--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:10001 (default: $RAY_ADDRESS, "
                       "else a local Ray instance sized to this machine)")
    group.add_argument("--workers", type=int, help="synthesis workers (default: one per GPU of the cluster)")
    group.add_argument("--worker-gpus", type=float, help="GPUs per synthesis worker; fractions share a GPU "
                       "(default 0.75: each GPU keeps room for a scoring worker)")
    group.add_argument("--scorers", type=int, help="scoring workers (default: one per four synthesis workers)")
    group.add_argument("--scorer-gpus", type=float, help="GPUs per scoring worker (default 0.25 on CUDA)")
    return parent


def make_executor(args: argparse.Namespace):
    from evalkit.api import make_executor as make
    from evalkit.types import EvalkitError

    ray_flags = {"address": args.address, "workers": args.workers, "worker_gpus": args.worker_gpus,
                 "scorers": args.scorers, "scorer_gpus": args.scorer_gpus}
    given = {k: v for k, v in ray_flags.items() if v is not None}
    if args.executor == "local":
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise EvalkitError(f"{flags}: only with --executor ray")
        return make("local")
    return make("ray", **given)


def parse_assignments(pairs: list[str] | None, flag: str) -> dict[str, object]:
    """KEY=VALUE pairs -> dict; values parsed as YAML scalars (3 -> int, true -> bool)."""
    import yaml

    from evalkit.types import EvalkitError

    out: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EvalkitError(f"{flag} {pair!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value) if value else None
        except yaml.YAMLError as exc:
            raise EvalkitError(f"{flag} {pair!r}: the value is not a YAML scalar or list "
                               f"({getattr(exc, 'problem', None) or exc})") from None
    return out


def print_json(data: object) -> None:
    import json

    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def register_listing(sub, command: str, registry_name: str, help_text: str, footer: str = "") -> None:
    """`evalkit <command> list [--json]` over a registry in evalkit.registry: every entry with
    its origin (built-in, or the distribution whose entry point registered it); nothing imported."""
    parser = sub.add_parser(command, help=help_text)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[output_flags()],
                                 help=f"list the {command}: built-in and registered by installed packages")

    def run(args) -> int:
        import sys

        from evalkit import registry

        reg = getattr(registry, registry_name)
        entries = reg.entries()
        for problem in reg.plugins().refused.values():
            print(f"evalkit: warning: {problem}", file=sys.stderr)
        if args.json:
            print_json({name: {"description": e.description, "origin": e.origin, "target": e.target}
                        for name, e in entries.items()})
            return 0
        print_table([(name, e.origin, e.description) for name, e in entries.items()])
        if footer:
            print(f"\n{footer}")
        return 0

    listing.set_defaults(func=run)

    shown = actions.add_parser("options", parents=[output_flags()],
                               help=f"the options of one of the {command} (name, type, default)")
    shown.add_argument("name", help="a name from `evalkit " + command + " list`, or package.module:ClassName")

    def run_options(args) -> int:
        from evalkit import registry

        return show_options(getattr(registry, registry_name), args)

    shown.set_defaults(func=run_options)


def show_options(reg, args) -> int:
    """What `--option` / `--metric-option NAME.KEY=VALUE` accept: read from the class's Options
    dataclass (evalkit.options), the one definition the command line, run.json and Python share."""
    from evalkit.options import declares_options, describe_options

    cls = reg.get(args.name)
    if declares_options(cls):
        rows = describe_options(cls.Options)
    else:  # a class that lists (some of) its options in default_options(): no types shown
        rows = [(name, "", default) for name, default in cls.default_options().items()]
    if args.json:
        print_json({name: {"type": kind, "default": default} for name, kind, default in rows})
        return 0
    if not rows:
        print(f"{args.name}: no options")
        return 0
    import json

    # Defaults as they would be typed: --option KEY=VALUE takes YAML (true, null, [0.0]).
    print_table([(name, json.dumps(default), kind) for name, kind, default in rows])
    return 0


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell (the last one left as is)."""
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([cell.ljust(w) for cell, w in zip(row, widths)] + [row[-1]]))


def add_run_dirs(parser: argparse.ArgumentParser) -> None:
    """The RUN_DIR... operand of the commands that read runs (a folder of runs is searched)."""
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run directories (a folder holding many runs is searched)")


def add_page_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    """--out / --bundle / --embed-mb of the commands that write an HTML page."""
    parser.add_argument("--out", help=f"HTML file to write (default: {default_out})")
    parser.add_argument("--bundle", metavar="DIR",
                        help="write DIR/index.html plus DIR/audio/ (a folder to publish as is)")
    parser.add_argument("--embed-mb", type=float, default=20.0,
                        help="audio embedded in the page, at most this many MB (default 20; 0 links every clip)")


def page_kwargs(args: argparse.Namespace) -> dict[str, object]:
    return {"out": args.out, "bundle": args.bundle, "embed_budget": int(args.embed_mb * 1024 * 1024)}


def announce_page(args: argparse.Namespace, path) -> int:
    if args.json:
        print_json({"report": str(path)})
    elif not args.quiet:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
