"""Every code example in docs/ runs, so the docs cannot rot (docs/development.md, "Docs examples").

Each document's fenced blocks run in order in one scratch folder, as a reader would type them:

- ```python: run as a script. A block whose first line is a comment naming a file
  (`# mytts/evalkit_adapter.py`) is saved as that file instead (the folder is on PYTHONPATH),
  then run once as a module would be imported;
- ```bash / ```sh: run with `bash -euo pipefail`; `evalkit` and `.venv/bin/evalkit` are the
  test environment's, EVALKIT_BASELINES is a scratch copy of baselines/ (examples may write);
- ```yaml, ```json, ```jsonl, ```toml: parsed; ```text: output or a schema sketch, not code.

A block that truly cannot run here (it needs a GPU, a download, a dataset) is preceded by
`<!-- docs-test: skip (the reason) -->`. A fence without a language is an error, so that
no example escapes by accident.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```(?P<lang>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
FILE_BLOCK = re.compile(r"#\s*(?P<path>[\w./-]+\.py)\s*$")
RUN, PARSE, TEXT = {"python", "bash", "sh"}, {"yaml", "json", "jsonl", "toml"}, {"text"}
BLOCK_TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    lang: str
    body: str
    skip: str | None  # the reason, when marked illustrative-only

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO_ROOT)}:{self.line} ({self.lang or 'no language'})"


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    out = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        line = text.count("\n", 0, match.start()) + 1
        out.append(Block(doc, line, match["lang"].strip(), match["body"], skip["reason"] if skip else None))
    return out


def test_every_block_says_what_it_is():
    problems = [b.where for doc in DOCS for b in blocks(doc) if b.lang not in RUN | PARSE | TEXT]
    assert not problems, f"fences need one of {sorted(RUN | PARSE | TEXT)}: {problems}"
    markers = sum(len(re.findall(r"docs-test:", FENCE.sub("", doc.read_text()))) for doc in DOCS)
    assert markers == sum(b.skip is not None for doc in DOCS for b in blocks(doc)), \
        "a docs-test marker is malformed or not directly above a fence: <!-- docs-test: skip (reason) -->"


def test_docs_say_a_cuda_machine_never_how_one_is_obtained():
    pattern = re.compile(r"device tool|KINDS\.md|lent (H200|GPU|machine)")
    paths = [REPO_ROOT / "README.md", *DOCS, *(REPO_ROOT / "benchmarks").rglob("*")]
    assert [str(p) for p in paths if p.is_file() and pattern.search(p.read_text(errors="ignore"))] == []


@pytest.fixture
def scratch(tmp_path):
    """The reader's folder: `.venv` is the test environment, baselines/ a writable copy."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    shutil.copytree(REPO_ROOT / "baselines", tmp_path / "baselines")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(tmp_path), "EVALKIT_BASELINES": str(tmp_path / "baselines")}
    return tmp_path, env


def run_block(block: Block, folder: Path, env: dict) -> None:
    if block.lang in TEXT:
        return
    if block.lang in PARSE:
        parse = {"yaml": yaml.safe_load, "json": json.loads, "toml": tomllib.loads,
                 "jsonl": lambda t: [json.loads(line) for line in t.splitlines() if line.strip()]}[block.lang]
        parse(block.body)
        return
    first = block.body.split("\n", 1)[0]
    named = FILE_BLOCK.fullmatch(first) if block.lang == "python" else None
    if named:
        target = folder / named["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        for parent in target.relative_to(folder).parents:  # a package needs its __init__.py
            if parent != Path(".") and not (folder / parent / "__init__.py").exists():
                (folder / parent / "__init__.py").write_text("")
        target.write_text(block.body)
        command = [sys.executable, "-c", f"import runpy; runpy.run_path({str(target)!r})"]
    elif block.lang == "python":
        script = folder / f"_block_{block.line}.py"
        script.write_text(block.body)
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-euo", "pipefail", "-c", block.body]
    res = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    assert res.returncode == 0, f"{block.where} failed ({res.returncode}):\n{block.body}\n" \
                                f"--- stdout\n{res.stdout[-3000:]}\n--- stderr\n{res.stderr[-3000:]}"


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_the_examples_of(doc, scratch, espeak):
    folder, env = scratch
    for block in blocks(doc):
        if block.skip is None:
            run_block(block, folder, env)
