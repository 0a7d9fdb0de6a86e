"""The F5-TTS LibriSpeech-PC test-clean cross-sentence suite: pair list, data build, loader.

Protocol (F5-TTS, Chen et al. 2024): 1,127 pairs from 39 speakers of LibriSpeech
test-clean. Each target utterance is 4-10 s long; its speaker prompt is a different,
shorter (2.4-4.5 s) utterance of the same speaker, and the prompt's transcript is the
text prompt for systems that take one. Texts are LibriSpeech-PC's (punctuated, cased)
and come with the list; LibriSpeech's own `.trans.txt` transcripts are not used.

The list's tab-separated columns are

    prompt id, prompt seconds, prompt text, target id, target seconds, target text

which is how F5-TTS's evaluation reads it (`get_librispeech_test` in
src/f5_tts/eval/utils_eval.py takes columns 1-3 as the reference, i.e. the prompt,
and columns 4-6 as the utterance to generate) and what the data shows: the first
duration column spans 2.4-4.5 s, the second 4-10 s; only the targets are unique.

The suite's data folder (`root:` in suites/librispeech.yaml, `$EVALKIT_DATA/librispeech`):

    librispeech_pc_test_clean_cross_sentence.lst   the pair list, pinned by sha256
    downloads/test-clean.tar.gz                     the archive, only while building
    LibriSpeech/test-clean/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac
    location.json                                   where test-clean is (see locations.py)
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from evalkit.download import ChecksumMismatch, DownloadError, Remote, extract_tar, fetch, verify
from evalkit.suites.locations import record_location, recorded_location
from evalkit.suites.manifest import ItemRows, resolve_in_root
from evalkit.suites.spec import SuiteError, SuiteSpec
from evalkit.textfile import read_text, text_lines

F5_TTS_COMMIT = "ff690b7ffb82b92e42b6a2bb4e5b16c5b9046d14"
LIST_NAME = "librispeech_pc_test_clean_cross_sentence.lst"
PAIR_LIST = Remote(
    url=f"https://raw.githubusercontent.com/SWivid/F5-TTS/{F5_TTS_COMMIT}/data/{LIST_NAME}",
    sha256="09811d521effa4eeb1da655f7379de97343b2f5ea86d829ec7ccb8656758a10f",
    size=222_318,
    label="LibriSpeech-PC cross-sentence pair list",
)
# OpenSLR (SLR12) publishes the md5 32fa31d27d2e1cad72775fee3f4849a9 for this archive in
# resources/12/md5sum.txt; the sha256 is the one torchaudio pins for the same URL
# (torchaudio/datasets/librispeech.py), and the size is that archive's.
TEST_CLEAN = Remote(
    url="https://www.openslr.org/resources/12/test-clean.tar.gz",
    sha256="39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    size=346_663_984,
    label="LibriSpeech test-clean",
)
UTTERANCE_ID = re.compile(r"^(\d+)-(\d+)-(\d+)$")
COLUMNS = "prompt id, prompt seconds, prompt text, target id, target seconds, target text"


@dataclass(frozen=True)
class Protocol:
    """What the pinned list must look like (F5-TTS paper, section 4, and the list itself)."""

    n_pairs: int
    n_speakers: int
    target_seconds: tuple[float, float]
    prompt_seconds: tuple[float, float]


F5_CROSS_SENTENCE = Protocol(n_pairs=1127, n_speakers=39, target_seconds=(4.0, 10.0), prompt_seconds=(2.4, 4.5))


@dataclass(frozen=True)
class Pair:
    prompt_id: str
    prompt_seconds: float
    prompt_text: str
    target_id: str
    target_seconds: float
    target_text: str
    where: str  # file:line

    @property
    def speaker(self) -> str:
        return self.target_id.split("-")[0]


def utterance_path(utterance_id: str) -> str:
    """`<speaker>/<chapter>/<id>.flac`, relative to a test-clean folder."""
    speaker, chapter, _ = utterance_id.split("-")
    return f"{speaker}/{chapter}/{utterance_id}.flac"


def parse_pair_list(path: Path) -> list[Pair]:
    """Read a pair list, checking every line's shape; errors name the file and line."""
    text = read_text(path, SuiteError)
    pairs: list[Pair] = []
    first_line: dict[str, str] = {}
    for lineno, line in enumerate(text_lines(text, str(path), SuiteError), 1):  # CRLF endings handled
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        pair = _parse_line(line, where)
        if pair.target_id in first_line:
            raise SuiteError(f"{where}: target {pair.target_id} is listed twice "
                             f"(first at {first_line[pair.target_id]})")
        first_line[pair.target_id] = where
        pairs.append(pair)
    if not pairs:
        raise SuiteError(f"{path}: no pairs (expected lines of: {COLUMNS})")
    return pairs


def _parse_line(line: str, where: str) -> Pair:
    fields = line.split("\t")
    if len(fields) != 6:
        raise SuiteError(f"{where}: expected 6 tab-separated columns ({COLUMNS}), found {len(fields)}")
    prompt_id, prompt_seconds, prompt_text, target_id, target_seconds, target_text = (f.strip() for f in fields)
    for utterance in (prompt_id, target_id):
        if not UTTERANCE_ID.match(utterance):
            raise SuiteError(f"{where}: {utterance!r} is not a LibriSpeech utterance id (speaker-chapter-number)")
    if prompt_id == target_id:
        raise SuiteError(f"{where}: the prompt is the target itself ({target_id}); "
                         "cross-sentence pairs need two utterances")
    if prompt_id.split("-")[0] != target_id.split("-")[0]:
        raise SuiteError(f"{where}: prompt {prompt_id} and target {target_id} are different speakers")
    if not prompt_text or not target_text:
        raise SuiteError(f"{where}: empty {'prompt' if not prompt_text else 'target'} text")
    try:
        seconds = float(prompt_seconds), float(target_seconds)
    except ValueError:
        raise SuiteError(f"{where}: durations {prompt_seconds!r}, {target_seconds!r} are not numbers") from None
    return Pair(prompt_id, seconds[0], prompt_text, target_id, seconds[1], target_text, where)


def check_protocol(pairs: list[Pair], path: Path, protocol: Protocol = F5_CROSS_SENTENCE) -> None:
    """Raise unless `pairs` has the protocol's size, speakers and duration ranges."""
    problems = []
    if len(pairs) != protocol.n_pairs:
        problems.append(f"{len(pairs):,} pairs, expected {protocol.n_pairs:,}")
    speakers = {p.speaker for p in pairs}
    if len(speakers) != protocol.n_speakers:
        problems.append(f"{len(speakers)} speakers, expected {protocol.n_speakers}")
    for role, (low, high) in (("target", protocol.target_seconds), ("prompt", protocol.prompt_seconds)):
        outside = [p for p in pairs if not low <= getattr(p, f"{role}_seconds") <= high]
        if outside:
            first = outside[0]
            problems.append(
                f"{len(outside)} {role}s outside {low:g}-{high:g} s (e.g. {first.where}: "
                f"{getattr(first, f'{role}_id')} is {getattr(first, f'{role}_seconds'):g} s)"
            )
    if problems:
        raise SuiteError(f"{path} is not the F5-TTS LibriSpeech-PC cross-sentence list: {'; '.join(problems)}")


def find_test_clean(root: Path) -> Path | None:
    """The test-clean folder given it, its parent `LibriSpeech/`, or the folder above that."""
    root = Path(root).expanduser()
    for candidate in (root, root / "test-clean", root / "LibriSpeech" / "test-clean"):
        if candidate.name == "test-clean" and candidate.is_dir():
            return candidate.resolve()
    return None


def _list_path(spec: SuiteSpec) -> tuple[Path, bool]:
    """The pair list, and whether it is the pinned protocol list (`options: {list: ...}`
    substitutes a list of the same format, e.g. a subset; it is not pinned)."""
    custom = spec.options.get("list")
    if custom:
        return resolve_in_root(spec.root, str(custom), str(spec.path)), False
    return spec.root / LIST_NAME, True


def _not_built(spec: SuiteSpec, what: str) -> str:
    return (
        f"suite {spec.name!r} is not built: {what}. Run `evalkit suites build {spec.name}` to download "
        f"its data ({TEST_CLEAN.label}, {TEST_CLEAN.size / 1e6:.0f} MB, and the pair list) into {spec.root}, "
        f"or `evalkit suites build {spec.name} --root DIR` to use an existing LibriSpeech copy "
        "(DIR holds test-clean/<speaker>/<chapter>/*.flac, or LibriSpeech/test-clean/...)"
    )


def read_pairs(spec: SuiteSpec) -> list[Pair]:
    """The suite's pairs; the pinned list is checked against its sha256 and the protocol."""
    path, pinned = _list_path(spec)
    if not path.is_file():
        raise SuiteError(_not_built(spec, f"the pair list {path} is missing"))
    if pinned:
        try:
            verify(PAIR_LIST, path)
        except ChecksumMismatch as exc:
            raise SuiteError(f"{exc}, then run `evalkit suites build {spec.name}`") from None
    pairs = parse_pair_list(path)
    if pinned:
        check_protocol(pairs, path)
    return pairs


def _audio_folder(spec: SuiteSpec) -> Path | None:
    """test-clean where the last build recorded it, else where a download extracts it."""
    for candidate in (recorded_location(spec.root), spec.root / "LibriSpeech" / "test-clean"):
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


def load_items(spec: SuiteSpec) -> ItemRows:
    pairs = read_pairs(spec)
    test_clean = _audio_folder(spec)
    if test_clean is None:
        recorded = recorded_location(spec.root)
        where = f"the recorded {recorded} is gone" if recorded else f"no LibriSpeech/test-clean under {spec.root}"
        raise SuiteError(_not_built(spec, f"LibriSpeech test-clean audio is missing ({where})"))
    rows = [
        {
            "id": p.target_id,
            "text": p.target_text,
            "prompt_audio": utterance_path(p.prompt_id),
            "prompt_text": p.prompt_text,
            "reference_audio": utterance_path(p.target_id),
            "reference_text": p.target_text,
            "tags": [f"speaker-{p.speaker}"],
            "language": "en",
            "where": p.where,
        }
        for p in pairs
    ]
    return ItemRows(test_clean, rows)


def build(spec: SuiteSpec, root: Path | None, quiet: bool = False) -> str:
    """`evalkit suites build`: fetch what is missing (or adopt `root`), check it, record it."""
    problems = []
    list_path, pinned = _list_path(spec)
    if pinned:
        try:
            fetch(PAIR_LIST, list_path, quiet=quiet)
        except DownloadError as exc:
            problems.append(str(exc))
    if root is not None:
        test_clean = find_test_clean(root)
        if test_clean is None:
            raise SuiteError(
                f"--root {root}: no test-clean folder there (looked for {root}, {root}/test-clean "
                f"and {root}/LibriSpeech/test-clean)"
            )
        source = f"--root {root}"
    else:
        test_clean, source = _audio_folder(spec), "found in the data folder"
        if test_clean is None:
            try:
                test_clean, source = _download_test_clean(spec.root, quiet), TEST_CLEAN.url
            except DownloadError as exc:
                problems.append(
                    f"{exc}; or use a LibriSpeech copy you already have: "
                    f"`evalkit suites build {spec.name} --root DIR` (DIR holds test-clean/<speaker>/<chapter>/*.flac)"
                )
    if problems:
        raise SuiteError(
            f"cannot build suite {spec.name!r}:\n  - " + "\n  - ".join(problems)
            + f"\nthen run `evalkit suites build {spec.name}` again"
        )
    pairs = read_pairs(spec)
    _check_complete(pairs, test_clean)
    if recorded_location(spec.root) != test_clean:  # keep an earlier record's provenance
        record_location(spec.root, test_clean, source)
    speakers = len({p.speaker for p in pairs})
    return f"{len(pairs):,} pairs from {speakers} speakers; audio in {test_clean}"


def _download_test_clean(data_dir: Path, quiet: bool) -> Path:
    """Download, verify and extract test-clean into `data_dir/LibriSpeech/`; the archive is
    deleted afterwards (the extracted files are what the suite's content hash covers)."""
    archive = fetch(TEST_CLEAN, data_dir / "downloads" / "test-clean.tar.gz", quiet=quiet)
    staging = data_dir / ".extracting"  # a crash mid-extraction leaves only this behind
    shutil.rmtree(staging, ignore_errors=True)
    extract_tar(archive, staging, quiet=quiet)
    extracted = staging / "LibriSpeech"
    if not (extracted / "test-clean").is_dir():
        raise SuiteError(f"{archive}: has no LibriSpeech/test-clean folder")
    target = data_dir / "LibriSpeech"
    target.mkdir(parents=True, exist_ok=True)
    for child in extracted.iterdir():  # test-clean plus the corpus's LICENSE/README/SPEAKERS files
        if not (target / child.name).exists():
            os.replace(child, target / child.name)
    shutil.rmtree(staging)
    archive.unlink()
    return target / "test-clean"


def _check_complete(pairs: list[Pair], test_clean: Path) -> None:
    needed = sorted({utterance_path(u) for p in pairs for u in (p.prompt_id, p.target_id)})
    missing = [name for name in needed if not (test_clean / name).is_file()]
    if missing:
        raise SuiteError(
            f"{test_clean}: {len(missing):,} of the {len(needed):,} audio files the pair list needs are missing "
            f"(e.g. {', '.join(missing[:3])}); is this LibriSpeech test-clean?"
        )
