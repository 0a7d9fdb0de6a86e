"""One module per CLI command; see evalkit.cli."""
from __future__ import annotations

import argparse


def output_flags() -> argparse.ArgumentParser:
    """-q/--quiet and --json, shared by every command."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-q", "--quiet", action="store_true", help="no progress bars or chatter")
    parent.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    return parent


def parse_assignments(pairs: list[str] | None, flag: str) -> dict[str, object]:
    """KEY=VALUE pairs -> dict; values parsed as YAML scalars (3 -> int, true -> bool)."""
    import yaml

    from evalkit.types import EvalkitError

    out: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EvalkitError(f"{flag} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value) if value else None
    return out


def print_json(data: object) -> None:
    import json

    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
