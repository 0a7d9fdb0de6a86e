"""Runs as tables (pandas): one row per item per run, or one row per run.

`evalkit export RUN... [--format csv|parquet|jsonl] [--out FILE]` writes `samples_frame`;
notebooks get the same frames from `Run.samples_df()` and `leaderboard_df(runs)`. The
columns are documented in docs/run-directory.md ("Tables"). Per-item scores are flattened
to one column per value, `<metric>.<key>` (nested keys joined by dots: `wer.words.sub`),
so every number samples.jsonl holds is a column; lists are written as JSON text.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from evalkit.types import EvalkitError

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.runlog import Run, Sample

FORMATS = ("csv", "parquet", "jsonl")
PARQUET_HINT = "pip install 'evalkit[parquet]' (pyarrow)"


def flatten(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """{"words": {"sub": 1}} -> {"<prefix>.words.sub": 1}; lists become JSON text."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name))
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(value, ensure_ascii=False)
        else:
            out[name] = value
    return out


def run_columns(run: Run) -> dict[str, Any]:
    """The columns every row of a run shares: which run, system and checkpoints."""
    return {
        "run_id": run.run_id,
        "run_dir": str(run.dir),
        "suite": run.suite.name,
        "suite_version": run.suite.version,
        "suite_hash": run.suite.content_hash,
        "system": run.system.name,
        "preset": run.system.preset,
        "protocol": run.protocol,
        "run_seed": run.seed,
        "device": run.device,
        **{f"checkpoint.{name}": sha for name, sha in sorted(run.system.checkpoints.items())},
    }


def sample_row(sample: Sample) -> dict[str, Any]:
    timing = sample.timing
    row: dict[str, Any] = {
        "item_id": sample.item_id,
        "tags": ",".join(sample.tags),
        "text": sample.text,
        "transcript": sample.transcript,
        "item_seed": sample.seed,
        "failed": sample.failed,
        "error_stage": sample.error.stage if sample.error else None,
        "error": f"{sample.error.type}: {sample.error.message}" if sample.error else None,
        "metric_errors": "; ".join(f"{m}: {e.type}: {e.message}" for m, e in sorted(sample.metric_errors.items()))
        or None,
        "not_applicable": "; ".join(f"{m}: {why}" for m, why in sorted(sample.not_applicable.items())) or None,
        "audio_path": sample.audio.path if sample.audio else None,
        "audio_sha256": sample.audio.sha256 if sample.audio else None,
        "audio_seconds": sample.audio.seconds if sample.audio else None,
        "synth_seconds": timing.seconds if timing else None,
        "latency_seconds": timing.latency_seconds if timing else None,
        "batch_size": timing.batch_size if timing else None,
        "from_cache": timing.from_cache if timing else None,
    }
    if timing:
        row.update({f"stage.{name}": seconds for name, seconds in sorted(timing.stages.items())})
    for metric, values in sorted(sample.scores.items()):
        row.update(flatten(values, metric))
    return row


def samples_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per item per run, in each run's file order."""
    import pandas as pd

    rows = [{**run_columns(run), **sample_row(s)} for run in runs for s in run.samples]
    # Nullable dtypes: an integer column with gaps stays integer (batch_size 1, not 1.0).
    return pd.DataFrame.from_records(rows).convert_dtypes()


def leaderboard_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run: identity, counts, then `<summary>`, `<summary>.ci_low`, `<summary>.ci_high`."""
    import pandas as pd

    rows = []
    for run in runs:
        row = {**run_columns(run), "main_metric": run.main_metric, "n_items": run.suite.n_items,
               "n_done": len(run.samples), "n_failed": run.n_failed, "complete": run.complete}
        for name, summary in run.summaries.items():
            row[name] = summary.value
            row[f"{name}.ci_low"], row[f"{name}.ci_high"] = summary.ci95 or (None, None)
        rows.append(row)
    return pd.DataFrame.from_records(rows).convert_dtypes()


def format_for(out: str | Path | None, fmt: str | None) -> str:
    """The format given, else the one --out's suffix names, else csv."""
    if fmt is None and out is not None:
        fmt = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}.get(Path(out).suffix.lower())
    fmt = fmt or "csv"
    if fmt not in FORMATS:
        raise EvalkitError(f"export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def table_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    if fmt == "jsonl":  # by hand: pandas' to_json escapes every '/' of a path
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        return "".join(json.dumps(r, ensure_ascii=False, default=_plain) + "\n" for r in records).encode()
    try:
        import pyarrow  # noqa: F401 - pandas' parquet engine
    except ImportError:
        raise EvalkitError(f"--format parquet needs pyarrow, which is not installed: {PARQUET_HINT}") from None
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers for json."""
    return value.item() if hasattr(value, "item") else str(value)


def write_table(frame: pd.DataFrame, fmt: str, out: str | Path) -> Path:
    """Write `frame` to `out` atomically (a reader never sees half a file)."""
    from evalkit.cache import atomic_write_bytes

    data = table_bytes(frame, fmt)
    out = Path(out)
    atomic_write_bytes(out, data)
    return out
