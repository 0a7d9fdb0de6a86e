"""The command line: a thin layer over evalkit.api.

Each command lives in evalkit/commands/<name>.py and exposes `register(subparsers)`;
those modules import only argparse-level things at the top, so `evalkit --help`
never imports torch.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from evalkit import __version__
from evalkit.types import EvalkitError

COMMANDS = ("run", "suites", "systems", "metrics", "weights", "report", "compare", "gate", "baseline", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalkit",
        description="Evaluate text-to-speech systems: generate over a prompt suite, score "
        "(WER/CER, speaker similarity, CLVP, RTF), report and gate.",
    )
    parser.add_argument("--version", action="version", version=f"evalkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"evalkit.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EvalkitError as exc:
        print(f"evalkit: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`evalkit ... | head`): not an error. Point stdout at
        # /dev/null so that the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("evalkit: interrupted; finished items are saved, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
