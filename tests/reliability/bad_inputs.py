"""A corpus of bad inputs, as a hostile or unlucky user would hand them to evalkit.

`audio_corpus(folder)` writes one file (or link, folder, pipe) per kind, named
`<kind>.wav`, and returns what evalkit must make of each: a score (optionally with a
check of its values) or a failure whose message names the file and the problem.
`item_suite_rows()` are suite items whose text is odd but loadable (each is scored
or fails alone), and `refused_suites(folder)` suite files that must be refused at
load with an error naming the file, the line where there is one, and the problem.
Imported by tests/reliability/test_bad_inputs.py (the folders are not packages).
"""
from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
TONE_SECONDS = 1.5


@dataclass(frozen=True)
class AudioKind:
    name: str
    write: Callable[[Path], None]  # writes the file at the given path
    failure: str | None = None  # substring of the failure message; None: scored
    check: Callable[[dict], bool] | None = None  # on the duration scores of a scored item
    as_root: str | None = "same"  # outcome when running as root, if it differs ("scored")


def tone(seconds: float = TONE_SECONDS, rate: int = RATE, level: float = 0.3, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = (level * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return mono if channels == 1 else np.stack([mono * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1)


def wav_bytes(audio: np.ndarray, rate: int = RATE, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, audio, rate, subtype=subtype, format=fmt)
    return buf.getvalue()


def writer(audio: np.ndarray, rate: int = RATE, subtype: str = "PCM_16", fmt: str = "WAV"):
    return lambda path: path.write_bytes(wav_bytes(audio, rate, subtype, fmt))


def patched(offset: int, value: bytes, audio: np.ndarray | None = None):
    """A canonical 44-byte-header WAV with bytes at `offset` replaced (a lying header)."""
    def write(path: Path) -> None:
        data = bytearray(wav_bytes(tone() if audio is None else audio))
        data[offset:offset + len(value)] = value
        path.write_bytes(bytes(data))
    return write


def truncated(path: Path) -> None:
    path.write_bytes(wav_bytes(tone())[: 44 + 2 * RATE // 2])  # header promises 1.5 s, 0.5 s follow


def symlink_to_good(path: Path) -> None:
    target = path.parent / ".target-of-link.flac"
    target.write_bytes(wav_bytes(tone(), fmt="FLAC", subtype="PCM_16"))
    path.symlink_to(target)


def unreadable(path: Path) -> None:
    path.write_bytes(wav_bytes(tone()))
    path.chmod(0)


def sparse_huge(path: Path) -> None:
    """A 4 GiB WAV (sparse: no disk used) whose valid header says ~37 hours."""
    head = (b"RIFF" + struct.pack("<I", 0xFFFFFFF8) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, RATE,
            2 * RATE, 2, 16) + b"data" + struct.pack("<I", 0xFFFFFFF0))
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(4 << 30)


def audio_corpus() -> list[AudioKind]:
    silence_one = lambda s: s["silence_ratio"] == 1.0  # noqa: E731
    kinds = [
        AudioKind("empty-file", lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
        AudioKind("zero-frames", writer(np.zeros(0, dtype=np.float32)), "audio is empty (0 samples)"),
        AudioKind("one-sample", writer(np.full(1, 0.5, dtype=np.float32)), check=lambda s: s["seconds"] == 1 / RATE),
        AudioKind("nan", writer(np.where(np.arange(RATE) % 7 == 0, np.nan, 0.1).astype(np.float32), subtype="FLOAT"),
                  "NaN/inf samples"),
        AudioKind("inf", writer(np.where(np.arange(RATE) == 5, np.inf, 0.1).astype(np.float32), subtype="FLOAT"),
                  "1 NaN/inf samples"),
        AudioKind("digital-silence", writer(np.zeros(RATE, dtype=np.float32)), check=silence_one),
        AudioKind("denormal-hiss", writer(np.full(RATE, 1e-30, dtype=np.float32), subtype="FLOAT"), check=silence_one),
        AudioKind("clipping", writer(np.sign(tone()).astype(np.float32)), check=lambda s: s["clipping"]),
        AudioKind("loud-float", writer(tone() * 40, subtype="FLOAT"), check=lambda s: s["clipping"]),
        AudioKind("dc-offset", writer(np.full(RATE, 0.5, dtype=np.float32)), check=lambda s: s["silence_ratio"] == 0.0),
        *(AudioKind(f"pcm-{sub.lower()}", writer(tone(), subtype=sub)) for sub in
          ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW", "IMA_ADPCM")),
        AudioKind("gsm610-8k", writer(tone(rate=8000), rate=8000, subtype="GSM610")),
        AudioKind("stereo", writer(tone(channels=2))),
        AudioKind("six-channels", writer(tone(channels=6))),
        AudioKind("rate-8k", writer(tone(rate=8000), rate=8000),
                  check=lambda s: abs(s["seconds"] - TONE_SECONDS) < 1e-3),
        AudioKind("rate-192k", writer(tone(rate=192000), rate=192000),
                  check=lambda s: abs(s["seconds"] - TONE_SECONDS) < 1e-3),
        AudioKind("too-long", writer(np.zeros(601 * 8000, dtype=np.float32), rate=8000, subtype="PCM_U8"),
                  "audio is 601 s long by its header (limit 600 s); not decoded"),
        AudioKind("sparse-4gib", sparse_huge, "long by its header (limit 600 s); not decoded"),
        AudioKind("truncated", truncated, check=lambda s: abs(s["seconds"] - 0.5) < 1e-3),
        AudioKind("lying-data-size", patched(40, struct.pack("<I", 0xFFFFFFF0))),
        AudioKind("rate-zero", patched(24, struct.pack("<I", 0)), "its WAV header gives a sample rate of 0 Hz"),
        AudioKind("zero-channels", patched(22, struct.pack("<H", 0)), "its WAV header gives 0 channels"),
        AudioKind("text-file", lambda p: p.write_text("this is not audio\n"), "not a readable audio file"),
        AudioKind("random-bytes", lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
                  "not a readable audio file"),
        AudioKind("flac-behind-wav", writer(tone(), fmt="FLAC")),
        AudioKind("ogg-behind-wav", writer(tone(), fmt="OGG", subtype="VORBIS")),
        AudioKind("mp3-behind-wav", writer(tone(), fmt="MP3", subtype="MPEG_LAYER_III")),
        AudioKind("aiff-behind-wav", writer(tone(), fmt="AIFF")),
        AudioKind("symlink", symlink_to_good),
        AudioKind("dangling-symlink", lambda p: p.symlink_to(p.parent / "nowhere.wav"), "a symbolic link to"),
        AudioKind("directory", lambda p: p.mkdir(), "is a directory, not an audio file"),
        AudioKind("named-pipe", lambda p: os.mkfifo(p), "not a regular file (a device, pipe or socket)"),
        # Root reads any file: the message is tested as another user in tests/core.
        AudioKind("unreadable", unreadable, "permission denied", as_root="scored"),
    ]
    assert len({k.name for k in kinds}) == len(kinds)
    return kinds


def expected_failure(kind: AudioKind) -> str | None:
    if kind.as_root == "scored" and os.geteuid() == 0:
        return None
    return kind.failure


# Item texts that load (the item is scored, or fails alone with a named message).
ITEM_ROWS = [
    ({"id": "plain", "text": "A plain sentence to anchor the run."}, None),
    ({"id": "empty-text", "text": ""}, "text is empty"),
    ({"id": "blank-text", "text": " \t\u3000 "}, "text is empty"),
    ({"id": "null-text", "text": None}, "text is empty"),
    ({"id": "too-long", "text": "word " * 401}, "text is 2005 characters long (limit 2000)"),
    ({"id": "lone-surrogate", "text": "Hello \ud800 there."}, "text that UTF-8 cannot encode"),
    ({"id": "low-surrogate-tag", "text": "Fine text.", "tags": ["ok", "\udc80"]}, "tags holds U+DC80"),
    ({"id": "line-separator", "text": "One line\u2028and another."}, None),
    ({"id": "next-line", "text": "One line\u0085and another."}, None),
    ({"id": "nul-and-controls", "text": "Bell\x07 and nul\x00 and escape\x1b[31m red."}, None),
    ({"id": "rtl-emoji-combining", "text": "Shalom \u05e9\u05dc\u05d5\u05dd, e\u0301t\u00e9 \U0001f600."}, None),
    ({"id": "markup", "text": "<script>alert(1)</script> **bold** $x^2$ | pipe"}, None),
    ({"id": "missing-prompt", "text": "Needs a voice.", "prompt_audio": "nowhere.wav"}, "does not exist"),
    ({"id": "prompt-is-folder", "text": "Needs a voice.", "prompt_audio": "a-folder.wav"},
     "is a directory, not an audio file"),
    ({"id": "prompt-is-pipe", "text": "Needs a voice.", "prompt_audio": "a-pipe.wav"}, "is not a regular file"),
]


def item_suite(folder: Path) -> Path:
    """A spec over ITEM_ROWS (with the folder, pipe and JSONL they refer to)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a-folder.wav").mkdir(exist_ok=True)
    if not (folder / "a-pipe.wav").exists():
        os.mkfifo(folder / "a-pipe.wav")
    lines = [json.dumps(row) for row, _ in ITEM_ROWS]  # ASCII escapes: "\ud800" stays as JSON has it
    (folder / "items.jsonl").write_text("\r\n".join(lines) + "\r\n")  # CRLF, as Windows editors write
    (folder / "items.yaml").write_text('name: odd-items\nversion: "1"\nitems: items.jsonl\nmetrics: [duration]\n')
    return folder / "items.yaml"


SPEC = 'name: bad\nversion: "1"\n'
GOOD_ROW = '{"id": "a", "text": "Hello."}'

# (kind, file name, content, substring of the error after "<file>"). `{line}` marks that the
# message names a line: ":<n>: " after the file name, or "line <n>" in a YAML message.
REFUSED = [
    ("id-trailing-newline", "s.jsonl", '{"id": "a\\n", "text": "x"}\n', ":1: item id 'a\\n' is invalid"),
    ("id-bell", "s.jsonl", '{"id": "a\\u0007b", "text": "x"}\n', ":1: item id 'a\\x07b' is invalid"),
    ("id-path", "s.jsonl", '{"id": "../../etc/passwd", "text": "x"}\n', ":1: item id '../../etc/passwd' is invalid"),
    ("id-number", "s.jsonl", '{"id": 5, "text": "x"}\n', ":1: item id 5 is invalid"),
    ("duplicate-id", "s.jsonl", GOOD_ROW + "\n" + GOOD_ROW + "\n", ":2: duplicate item id 'a' (first at"),
    ("tags-number", "s.jsonl", '{"id": "a", "text": "x", "tags": 5}\n', ":1: tags must be a list of non-empty strings"),
    ("language-null", "s.jsonl", '{"id": "a", "text": "x", "language": null}\n',
     ":1: language must be a language code such as \"en\", not None"),
    ("text-number", "s.jsonl", '{"id": "a", "text": 5}\n', ":1: text must be a string, not 5 (a number)"),
    ("unknown-field", "s.jsonl", '{"id": "a", "text": "x", "txt": "y"}\n', ":1: unknown field(s) ['txt']"),
    ("invalid-json", "s.jsonl", GOOD_ROW + '\n{"id": "b", "text": \n', ":2: invalid JSON"),
    ("array-line", "s.jsonl", '["a", "b"]\n', ":1: each line must be a JSON object"),
    ("latin-1", "s.jsonl", '{"id": "a", "text": "caf\xe9"}\n'.encode("latin-1"),
     ":1: not UTF-8 text (byte 0xe9 at column 25; save the file as UTF-8)"),
    ("absurd-line", "s.jsonl", '{"id": "a", "text": "' + "x" * (1 << 20) + '"}\n',
     ":1: line is 1,048,599 characters long"),
    ("escaping-path", "s.jsonl", '{"id": "a", "text": "x", "prompt_audio": "../../../etc/hosts"}\n',
     ":1: path '../../../etc/hosts' escapes the suite root"),
    ("metrics-number", "s.yaml", SPEC + "metrics: 5\nitems: []\n", ": metrics must be a list of metric names"),
    ("suite-name-path", "s.yaml", 'name: "../x"\nversion: "1"\nitems: []\n', ": suite name '../x'"),
    ("yaml-syntax", "s.yaml", SPEC + "items:\n  - {id: a, text: x}\n  - id: b\n    text: c: d\n",
     ": YAML syntax error at line 6, column 12: mapping values are not allowed here; the line reads"),
    ("yaml-tab", "s.yaml", SPEC + "items:\n\t- {id: a, text: x}\n", ": YAML syntax error at line 4"),
    ("yaml-alias-bomb", "s.yaml",
     SPEC + 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
     + "".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
               for p, c in zip("abcdefgh", "bcdefghi")) + "items: []\n",
     ": YAML at line 4, column 8: alias *a refused"),
    ("yaml-deep-nesting", "s.yaml", SPEC + "items: " + "[" * 100_000 + "\n", ": YAML nested too deeply"),
    ("yaml-python-tag", "s.yaml", SPEC + "items: !!python/object/apply:os.system ['touch pwned']\n",
     ": YAML syntax error at line 3"),
    ("spec-not-mapping", "s.yaml", "- just\n- a list\n", ": a suite spec must be a YAML mapping"),
    ("spec-is-folder", "s.yaml", None, ": is a directory, not a file"),
    ("missing-version", "s.yaml", "name: bad\nitems: []\n", ": missing required key 'version'"),
]


def refused_suites(folder: Path) -> list[tuple[str, Path, str]]:
    """(kind, suite file, expected message after the file name) for every REFUSED kind."""
    out = []
    for kind, name, content, message in REFUSED:
        where = folder / kind
        where.mkdir(parents=True, exist_ok=True)
        path = where / name
        if content is None:
            path.mkdir(exist_ok=True)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        out.append((kind, path, message))
    return out
