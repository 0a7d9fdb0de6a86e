"""Seed-TTS-eval test sets, imported from a local copy of ByteDance's `seedtts_testset`.

ByteDance distributes the test set as `seedtts_testset.tar` on Google Drive (linked from
github.com/BytedanceSpeech/seed-tts-eval), not at a URL evalkit could pin, so evalkit
imports a copy the user has extracted:

    seedtts_testset/en/meta.lst
    seedtts_testset/en/prompt-wavs/<prompt>.wav
    seedtts_testset/en/wavs/<filename>.wav        ground truth, where shipped

A meta file's lines are `filename|prompt text|prompt wav|target text[|ground-truth wav]`,
paths relative to the meta file's folder. The zero-shot TTS lists (en/meta.lst: 1,088
lines) have four columns; F5-TTS's evaluation takes their ground truth from
`wavs/<filename>.wav`, and so does this loader when that file exists. The voice
conversion lists have the fifth column.

Where the copy is; the first of these that is set decides:
1. `EVALKIT_SEEDTTS`: the `seedtts_testset` folder, its language folder, or a meta file;
2. the meta file recorded by `evalkit suites build seedtts-en --root DIR`;
3. the suite's data folder (`root:`; `$EVALKIT_DATA/seedtts`), searched the same way.
Spec options: `language` (default `en`) and `meta` (default `meta.lst`).
"""
from __future__ import annotations

import os
from pathlib import Path

from evalkit.suites.locations import record_location, recorded_location
from evalkit.suites.manifest import ItemRows, resolve_in_root
from evalkit.suites.spec import BUILDERS, SuiteError, SuiteSpec
from evalkit.textfile import read_text, text_lines

ENV_VAR = "EVALKIT_SEEDTTS"
TESTSET_URL = "https://drive.google.com/file/d/1GlSjVfSHkW3-leKKBlfrjuuTGqQ_xaLP"
COLUMNS = "filename|prompt text|prompt wav|target text[|ground-truth wav]"


def _options(spec: SuiteSpec) -> tuple[str, str]:
    return str(spec.options.get("language", "en")), str(spec.options.get("meta", "meta.lst"))


def find_meta(location: Path, language: str, meta: str) -> Path | None:
    """The meta file at `location`: the file itself, or inside it, its language folder,
    or `seedtts_testset/<language>/`."""
    location = Path(location).expanduser()
    if location.is_file():
        return location.resolve()
    for candidate in (location / meta, location / language / meta, location / "seedtts_testset" / language / meta):
        if candidate.is_file():
            return candidate.resolve()
    return None


def locate_meta(spec: SuiteSpec) -> Path:
    """The suite's meta file, or a SuiteError that says how to provide it."""
    language, meta = _options(spec)
    env = os.environ.get(ENV_VAR)
    if env:
        source, location = f"{ENV_VAR}={env}", Path(env)
    elif (recorded := recorded_location(spec.root)) is not None:
        source, location = f"the location recorded in {spec.root / 'location.json'}", recorded
    else:
        source, location = f"the suite's data folder {spec.root}", spec.root
    found = find_meta(location, language, meta)
    if found is None:
        raise SuiteError(
            f"suite {spec.name!r}: no Seed-TTS-eval {language}/{meta} found at {location} ({source}). "
            f"Download seedtts_testset.tar from {TESTSET_URL} (see github.com/BytedanceSpeech/seed-tts-eval), "
            f"extract it, and {_how_to_point(spec)}"
        )
    return found


def _how_to_point(spec: SuiteSpec) -> str:
    env = f"set {ENV_VAR}=DIR/seedtts_testset"
    if spec.loader in BUILDERS:  # `evalkit suites build` reaches build() below
        return f"run `evalkit suites build {spec.name} --root DIR/seedtts_testset` (remembered) or {env}"
    return env


def parse_meta(path: Path, language: str) -> list[dict]:
    """Item rows of a meta file (paths relative to its folder); errors name file and line."""
    text = read_text(path, SuiteError)
    rows = []
    for lineno, line in enumerate(text_lines(text, str(path), SuiteError), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        fields = [f.strip() for f in line.split("|")]
        if len(fields) not in (4, 5):
            raise SuiteError(f"{where}: expected 4 or 5 '|'-separated columns ({COLUMNS}), found {len(fields)}")
        filename, prompt_text, prompt_wav, target_text = fields[:4]
        if not prompt_wav:
            raise SuiteError(f"{where}: no prompt wav")
        truth = fields[4] if len(fields) == 5 else _shipped_truth(path.parent, filename)
        rows.append({
            "id": filename,
            "text": target_text,
            "prompt_audio": prompt_wav,
            "prompt_text": prompt_text or None,
            "reference_audio": truth or None,
            "reference_text": target_text if truth else None,
            "language": language,
            "where": where,
        })
    if not rows:
        raise SuiteError(f"{path}: no items (expected lines of: {COLUMNS})")
    return rows


def _shipped_truth(folder: Path, filename: str) -> str | None:
    """A four-column line's ground truth: `wavs/<filename>.wav`, where the set ships it."""
    relative = f"wavs/{filename}.wav"
    return relative if (folder / relative).is_file() else None


def load_items(spec: SuiteSpec) -> ItemRows:
    meta = locate_meta(spec)
    return ItemRows(meta.parent, parse_meta(meta, _options(spec)[0]))


def build(spec: SuiteSpec, root: Path | None, quiet: bool = False) -> str:
    """`evalkit suites build seedtts-en [--root DIR]`: check (and with --root, record) the copy.
    Nothing is downloaded; `quiet` is accepted for the builder interface."""
    language, meta_name = _options(spec)
    if root is not None:
        meta = find_meta(root, language, meta_name)
        if meta is None:
            raise SuiteError(
                f"--root {root}: no {meta_name} there (looked in {root}, {root}/{language} "
                f"and {root}/seedtts_testset/{language})"
            )
        rows = parse_meta(meta, language)
        record_location(spec.root, meta, f"--root {root}")
    else:
        meta = locate_meta(spec)
        rows = parse_meta(meta, language)
    _check_complete(meta, rows)
    with_truth = sum(r["reference_audio"] is not None for r in rows)
    return f"{len(rows):,} items ({with_truth:,} with ground truth) from {meta}"


def _check_complete(meta: Path, rows: list[dict]) -> None:
    missing = sorted({
        row[key] for row in rows for key in ("prompt_audio", "reference_audio")
        if row[key] and not resolve_in_root(meta.parent, row[key], row["where"]).is_file()
    })
    if missing:
        raise SuiteError(
            f"{meta}: {len(missing):,} audio files it names are missing (e.g. {', '.join(missing[:3])}); "
            "is the test set fully extracted?"
        )
