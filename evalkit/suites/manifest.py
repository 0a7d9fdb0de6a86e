"""Item manifests (inline YAML lists or JSONL files) and the validation every loader shares.

Loaders produce *rows*: plain dicts with the Item fields, audio paths relative to a
root folder, and a `where` string (file:line) for error messages. `build_items` turns
rows into Items: suite-level problems (duplicate ids, bad ids, paths escaping the
root) abort the load with a SuiteError; per-item problems (empty or absurdly long
text, a missing audio file) are returned so the runner records those items as
failed at stage "load" and the run goes on.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from evalkit.suites.spec import SuiteError, SuiteSpec, extra_prompt_paths
from evalkit.textfile import read_text, text_lines
from evalkit.types import Item

# Ids become file names (audio-dir system, reports): keep them portable and safe.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")
# Longer than any utterance a TTS benchmark means (a LibriSpeech target of 10 s has
# ~200 characters; 2,000 is ten times the longest prompt in the shipped suites).
MAX_TEXT_CHARS = 2000
ITEM_FIELDS = ("id", "text", "prompt_audio", "prompt_text", "reference_audio", "reference_text", "tags", "language",
               "extra_prompt_audio")


@dataclass(frozen=True)
class ItemRows:
    """What a loader returns: rows and the folder their relative paths resolve against."""

    root: Path
    rows: list[dict[str, Any]]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a syntax error names the file and line."""
    rows = []
    for lineno, line in enumerate(text_lines(read_text(path, SuiteError), str(path), SuiteError), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise SuiteError(f"{path}:{lineno}: each line must be a JSON object")
        row["where"] = f"{path}:{lineno}"
        rows.append(row)
    return rows


def load_manifest_items(spec: SuiteSpec) -> ItemRows:
    """Items listed inline in the spec (`items: [...]`) or in a JSONL file (`items: file.jsonl`)."""
    items = spec.options.get("items")
    if items is None:
        raise SuiteError(f"{spec.path}: a manifest suite needs `items:` (a list, or a .jsonl file)")
    if isinstance(items, str):
        # Paths inside a JSONL file are relative to that file's folder.
        path = resolve_in_root(spec.root, items, str(spec.path))
        return ItemRows(path.parent, read_jsonl(path))
    if not isinstance(items, list):
        raise SuiteError(f"{spec.path}: `items` must be a list or a .jsonl path")
    rows = []
    for i, row in enumerate(items):
        if not isinstance(row, dict):
            raise SuiteError(f"{spec.path}: items[{i}] must be a mapping")
        rows.append({**row, "where": f"{spec.path}: items[{i}]"})
    return ItemRows(spec.root, rows)


def resolve_in_root(root: Path, relative: str, where: str) -> Path:
    """`root / relative`, refusing any path that resolves outside `root`."""
    root = root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise SuiteError(f"{where}: path {relative!r} escapes the suite root {root}")
    return path


def build_items(rows: Iterable[dict[str, Any]], root: Path) -> tuple[list[Item], dict[str, str]]:
    """Validate rows into Items. Returns (items, problems by item id)."""
    items: list[Item] = []
    problems: dict[str, str] = {}
    seen: dict[str, str] = {}
    for row in rows:
        where = row.get("where", "?")
        unknown = set(row) - set(ITEM_FIELDS) - {"where"}
        if unknown:
            raise SuiteError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {list(ITEM_FIELDS)}")
        item_id = row.get("id")
        if not isinstance(item_id, str) or not ID_PATTERN.fullmatch(item_id):
            raise SuiteError(
                f"{where}: item id {item_id!r} is invalid (letters, digits, '.', '_', '+', '-'; "
                "must start with a letter or digit; at most 200 characters)"
            )
        if item_id in seen:
            raise SuiteError(f"{where}: duplicate item id {item_id!r} (first at {seen[item_id]})")
        seen[item_id] = where
        row, unencodable = _encodable(row)
        item = _row_to_item(row, root, where)
        problem = unencodable or item_problem(item)
        if problem:
            problems[item.id] = f"{where}: item {item.id!r}: {problem}"
        items.append(item)
    return items, problems


def _encodable(row: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The row with text UTF-8 cannot encode (lone surrogates such as "\\ud800", which
    JSON escapes allow) replaced by U+FFFD, and what was found: such an item fails at
    stage "load" with that message (no file, page or transcript could hold its text),
    and the other items run."""
    found = []

    def clean(value: Any, field: str) -> Any:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                found.append(f"{field} holds U+{ord(value[exc.start]):04X} at character {exc.start}")
                return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
            return value
        if isinstance(value, list):
            return [clean(v, field) for v in value]
        return value

    cleaned = {k: clean(v, k) for k, v in row.items()}
    if not found:
        return row, None
    return cleaned, "text that UTF-8 cannot encode (a lone surrogate): " + "; ".join(found)


def _row_to_item(row: dict[str, Any], root: Path, where: str) -> Item:
    def path(key: str) -> Path | None:
        value = row.get(key)
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise SuiteError(f"{where}: {key} must be a string path, not {_kind(value)}")
        return resolve_in_root(root, value, where)

    def text(key: str) -> str | None:
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            raise SuiteError(f"{where}: {key} must be a string, not {_kind(value)} (quote it)")
        return value

    tags = row.get("tags")
    if tags is None:
        tags = []
    elif isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise SuiteError(f"{where}: tags must be a list of non-empty strings (or one string), not {tags!r}")
    language = row.get("language", "en")
    if not isinstance(language, str) or not language.strip():
        raise SuiteError(f"{where}: language must be a language code such as \"en\", not {language!r}")
    extra = extra_prompt_paths(row, where)
    return Item(
        id=row["id"],
        text=text("text") or "",
        prompt_audio=path("prompt_audio"),
        prompt_text=text("prompt_text"),
        reference_audio=path("reference_audio"),
        reference_text=text("reference_text"),
        tags=tuple(tags),
        language=language,
        extra_prompt_audio=tuple(resolve_in_root(root, p, where) for p in extra),
    )


def _kind(value: Any) -> str:
    """How a JSON/YAML value reads in an error: `5 (a number)`."""
    kinds = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "a mapping"}
    return f"{value!r} ({kinds.get(type(value), type(value).__name__)})"


def item_problem(item: Item) -> str | None:
    """Why this item cannot be run (None when it can)."""
    if not item.text.strip():
        return "text is empty"
    if len(item.text) > MAX_TEXT_CHARS:
        return f"text is {len(item.text)} characters long (limit {MAX_TEXT_CHARS})"
    recordings = [("speaker prompt", item.prompt_audio), ("ground-truth audio", item.reference_audio)]
    recordings += [("extra speaker prompt", p) for p in item.extra_prompt_audio]
    for label, path in recordings:
        if path is None or path.is_file():
            continue
        if path.is_dir():
            return f"{label} {path} is a directory, not an audio file"
        if path.exists():
            return f"{label} {path} is not a regular file (a pipe, device or socket)"
        return f"{label} {path} does not exist"
    return None
