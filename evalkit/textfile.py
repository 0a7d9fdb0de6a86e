"""Reading a user's text file (suite, list, baseline, policy) with errors that name it.

Inputs are bounded before they are parsed: a file's size from its metadata, each
line's length, and YAML's structure (no aliases, which let a few lines expand into
billions of nodes for whoever walks the result; no nesting deep enough to exhaust
the parser's recursion). A refusal names the file, the line and the limit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.types import EvalkitError

# 64 MiB: about 200,000 suite items of ~300 bytes (LibriSpeech-PC's 1,127 pairs take 0.3 MiB).
MAX_FILE_BYTES = 64 << 20
# 1 MiB: an item line holds a text of at most 2,000 characters and a few paths; a line
# of a megabyte is not an item (a minified dump, a binary file, an attack).
MAX_LINE_CHARS = 1 << 20


def read_text(path: Path, error: type[EvalkitError] = EvalkitError, label: str = "",
              max_bytes: int = MAX_FILE_BYTES) -> str:
    """The file's UTF-8 text; an unreadable, oversized or non-UTF-8 file raises `error` naming it."""
    where = f"{label} {path}" if label else str(path)
    try:
        size = Path(path).stat().st_size
        if size > max_bytes:
            raise error(f"{where}: {size / 2**20:.0f} MiB is more than a text file of this kind can be "
                        f"(limit {max_bytes >> 20} MiB)")
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise error(f"{where}: is a directory, not a file") from None
    except OSError as exc:
        raise error(f"{where}: cannot read ({exc.strerror})") from None
    try:
        return data.decode("utf-8-sig")  # a leading BOM (Windows editors) is not text
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(f"{where}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}; "
                    "save the file as UTF-8)") from None


def text_lines(text: str, where: str, error: type[EvalkitError] = EvalkitError,
               max_chars: int = MAX_LINE_CHARS) -> list[str]:
    """Lines split at "\\n" only ("\\r\\n" too): U+2028, U+0085 and the other characters
    str.splitlines() also breaks at are text inside a line of JSONL or a list. A line
    over `max_chars` raises `error` naming it."""
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if len(line) > max_chars:
            raise error(f"{where}:{number}: line is {len(line):,} characters long (limit {max_chars:,})")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse_yaml(text: str, where: str, error: type[EvalkitError] = EvalkitError) -> Any:
    """Safe YAML of a user's file: no aliases, bounded lines and nesting; a syntax
    error names the line and column and quotes the line."""
    import yaml

    lines = text_lines(text, where, error)

    class AliasRefused(yaml.MarkedYAMLError):
        pass

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise AliasRefused(None, None, f"alias *{event.anchor} refused (an alias can expand a small file "
                                   "into a huge document; write the value out)", event.start_mark)
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise error(f"{where}: YAML nested too deeply to be a suite or policy") from None
    except AliasRefused as exc:
        raise error(f"{where}: YAML {_yaml_position(exc, lines)}") from None
    except yaml.YAMLError as exc:
        raise error(f"{where}: YAML syntax error {_yaml_position(exc, lines)}") from None


def _yaml_position(exc, lines: list[str]) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f": {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    started = (f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
               if context and context_mark and context_mark.line != mark.line else "")
    shown = lines[mark.line] if mark.line < len(lines) else ""
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    return f"at line {mark.line + 1}, column {mark.column + 1}: {problem}{started}; the line reads: {shown!r}"
