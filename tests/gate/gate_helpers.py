"""Helpers for the gate tests (imported as `gate_helpers`): degraded audio, the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf


def audio_dir_from(run_dir: Path, target: Path, transform, skip: tuple[str, ...] = ()) -> Path:
    """<item id>.wav files made from a run's audio by `transform(audio, rate)`."""
    target.mkdir(parents=True, exist_ok=True)
    for line in (run_dir / "samples.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["item_id"] in skip:
            continue
        audio, rate = sf.read(run_dir / record["audio"]["path"], dtype="float32")
        sf.write(target / f"{record['item_id']}.wav", transform(audio, rate), rate)
    return target


def truncate(audio, rate):
    return audio[: int(len(audio) * 0.4)]


def add_noise(audio, rate, snr_db: float = -5.0):
    """White noise at `snr_db` relative to the clip's power (fixed seed)."""
    rng = np.random.default_rng(0)
    power = float(np.mean(audio**2))
    noise = rng.standard_normal(len(audio)).astype(np.float32) * np.sqrt(power / 10 ** (snr_db / 10))
    return np.clip(audio + noise, -1, 1)


def gate_cli(*args: str) -> tuple[int, str]:
    """Run `evalkit gate ...` in-process; (exit code, stdout)."""
    import contextlib
    import io

    from evalkit.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["gate", *args])
    return code, out.getvalue()
