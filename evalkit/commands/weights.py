"""`evalkit weights list | fetch NAME | verify [NAME]`."""
from __future__ import annotations

from evalkit.commands import output_flags, print_json


def register(sub) -> None:
    p = sub.add_parser("weights", help="list, fetch and verify model weights")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", parents=[output_flags()], help="registered weights: source, expected sha256, whether present"
    )
    listing.set_defaults(func=list_weights)
    fetch = actions.add_parser(
        "fetch", parents=[output_flags()], help="make weights present: cache, offline providers, then pinned download"
    )
    fetch.add_argument("name", help="a name from `evalkit weights list`")
    fetch.set_defaults(func=fetch_weights)
    verify = actions.add_parser("verify", parents=[output_flags()], help="re-hash present weights against their pins")
    verify.add_argument("name", nargs="?", help="one weight (default: every present one)")
    verify.set_defaults(func=verify_weights)


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "unpinned"


def list_weights(args) -> int:
    from evalkit import weights

    rows = [weights.status(spec) for spec in weights.all_specs()]
    if args.json:
        print_json(rows)
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'NAME'.ljust(width)}  PRESENT  SHA256 (per file)  SOURCE")
    for r in rows:
        hashes = ", ".join(f"{path}:{_short(sha)}" for path, sha in r["sha256"].items())
        print(f"{r['name'].ljust(width)}  {'yes' if r['present'] else 'no':7}  {hashes}  {r['source']}")
    print(f"weights folder: {weights.weights_root()}")
    return 0


def fetch_weights(args) -> int:
    from evalkit import weights

    resolved = weights.resolve(args.name)
    if args.json:
        print_json(resolved.provenance() | {"path": str(resolved.path)})
    elif not args.quiet:
        print(f"{resolved.name}: {resolved.path} (sha256 {resolved.sha256}, from {resolved.source})")
    return 0


def verify_weights(args) -> int:
    """Exit 0 when every checked weight matches, 1 on a mismatch or a missing named weight."""
    from evalkit import weights

    specs = [weights.get_spec(args.name)] if args.name else weights.all_specs()
    results = {}
    for spec in specs:
        folder = weights.folder_of(spec)
        try:
            hashes = weights.verify_folder(spec, folder, use_cache=False)
            results[spec.name] = "ok" if hashes is not None else "absent"
        except weights.ChecksumMismatch as exc:
            results[spec.name] = f"MISMATCH: {exc}"
    if args.json:
        print_json(results)
    else:
        for name, result in results.items():
            print(f"{name}: {result}")
    bad = any(r.startswith("MISMATCH") for r in results.values()) or (args.name and results[args.name] == "absent")
    return 1 if bad else 0
