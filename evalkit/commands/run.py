"""`evalkit run`: evaluate a system on a suite (resumes an interrupted run)."""
from __future__ import annotations

import argparse

from evalkit.commands import executor_flags, make_executor, output_flags, parse_assignments, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "run", parents=[output_flags(), executor_flags()], help="evaluate a system on a suite",
        description="Generate audio for every item of a suite, score it, and write a run directory. "
        "Rerunning the same command resumes: finished items are neither regenerated nor rescored.",
    )
    add_run_arguments(p)
    p.add_argument("--preset", help="system preset (TorToiSe: ultra_fast, fast, standard, high_quality)")
    p.add_argument("--seed", default="0",
                   help="run seed (per-item seeds derive from it and the item id); 'none' for unseeded")
    p.add_argument("--out", help="run directory (default: runs/<suite>/<system>/<run_id>)")
    p.set_defaults(func=run)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """What `run` and `sweep` share: the suite, the system and its options, the scoring."""
    p.add_argument("--suite", default="smoke", help="suite name or path to a .yaml/.jsonl file (default: smoke)")
    p.add_argument("--system", help="system name or package.module:Class (default: the suite's default system)")
    p.add_argument("--checkpoint", action="append", metavar="COMPONENT=PATH",
                   help="swap one model component's checkpoint (repeatable)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="system option (repeatable)")
    p.add_argument("--audio-dir", help="folder of <item id>.wav|.flac for --system audio-dir")
    p.add_argument("--limit", type=int, help="only the first N items")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--metrics", help="comma-separated metrics (default: the suite's)")
    p.add_argument("--protocol", default="evalkit", help="scoring protocol: evalkit (default), seedtts, f5")
    p.add_argument("--metric-option", action="append", metavar="METRIC.KEY=VALUE",
                   help="metric option, e.g. wer.model=large-v3 (repeatable)")
    p.add_argument("--voice", help="speaker prompt that replaces every item's prompt: an audio file, or a folder "
                   "of clips of one speaker (the first by name is the prompt; TorToiSe conditions on all)")
    p.add_argument("--voice-text", help="transcript of --voice (of its first clip)")
    p.add_argument("--retry-failed", action="store_true", help="regenerate items that failed in an earlier attempt")


def _system_options(args: argparse.Namespace) -> dict[str, object]:
    from evalkit.types import EvalkitError

    options = parse_assignments(args.option, "--option")
    if getattr(args, "preset", None):
        options["preset"] = args.preset
    if args.audio_dir:
        options["audio_dir"] = args.audio_dir
    if args.checkpoint:
        checkpoints = {}
        for pair in args.checkpoint:
            component, sep, path = pair.partition("=")
            if not sep or not component or not path:
                raise EvalkitError(f"--checkpoint {pair!r}: expected COMPONENT=PATH")
            checkpoints[component] = path
        options["checkpoints"] = checkpoints
    return options


def _metric_options(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    from evalkit.types import EvalkitError

    out: dict[str, dict[str, object]] = {}
    for key, value in parse_assignments(args.metric_option, "--metric-option").items():
        metric, sep, option = key.rpartition(".")  # a plugin metric may be named mypkg.mod:Class
        if not sep or not option:
            raise EvalkitError(f"--metric-option {key!r}: expected METRIC.KEY=VALUE")
        out.setdefault(metric, {})[option] = value
    return out


def build_config(args: argparse.Namespace):
    from pathlib import Path

    from evalkit.api import EvalConfig
    from evalkit.types import EvalkitError

    seed_text = getattr(args, "seed", "0")
    if seed_text.lower() == "none":
        seed = None
    else:
        try:
            seed = int(seed_text)
        except ValueError:
            raise EvalkitError(f"--seed {seed_text!r}: expected an integer or 'none'") from None
    if args.limit is not None and args.limit < 1:
        raise EvalkitError("--limit must be at least 1")
    return EvalConfig(
        suite=args.suite,
        system=args.system,
        system_options=_system_options(args),
        metrics=tuple(m.strip() for m in args.metrics.split(",") if m.strip()) if args.metrics else None,
        metric_options=_metric_options(args),
        protocol=args.protocol,
        seed=seed,
        limit=args.limit,
        out=Path(args.out) if getattr(args, "out", None) else None,
        device=args.device,
        voice=args.voice,
        voice_text=args.voice_text,
        retry_failed=args.retry_failed,
        quiet=args.quiet or args.json,
    )


def run(args: argparse.Namespace) -> int:
    from evalkit.api import evaluate
    from evalkit.summary import format_summary

    config = build_config(args)
    with make_executor(args) as executor:
        result = evaluate(config, executor)
    if args.json:
        print_json({"run_dir": str(result.run_dir), **result.metrics})
    else:
        print(format_summary(result.metrics, result.run_dir))
    return 0
