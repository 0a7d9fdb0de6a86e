"""Hostile and malformed suite files: read correctly or refused quickly, naming file, line and problem."""
from __future__ import annotations

import json
import time

import pytest
from core_helpers import write_suite

from evalkit.suites import SuiteError, load_suite


def jsonl_suite(tmp_path, lines: list[str]) -> str:
    """A spec over an items.jsonl holding exactly these lines."""
    path = write_suite(tmp_path, [{"id": "x", "text": "x"}])
    (tmp_path / "items.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def test_line_separators_inside_json_strings_are_text(tmp_path):
    texts = ["Para one.\u2028Para two.", "Next\u0085line.", "Form\x0cfeed and\u2029paragraph."]
    lines = [json.dumps({"id": f"i{k}", "text": t}, ensure_ascii=False) for k, t in enumerate(texts)]
    suite = load_suite(jsonl_suite(tmp_path, lines))
    assert [i.text for i in suite.items] == texts and suite.problems == {}


@pytest.mark.parametrize("bad_id", ["a\n", "a\t", "a\x00b", "a\u2028", " a", "../a", "a/b", ""])
def test_ids_with_control_characters_or_separators_are_refused(tmp_path, bad_id):
    path = jsonl_suite(tmp_path, [json.dumps({"id": bad_id, "text": "hi"})])
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    assert f"items.jsonl:1: item id {bad_id!r} is invalid" in str(err.value)


@pytest.mark.parametrize("field, value, message", [
    ("tags", 5, "tags must be a list of non-empty strings (or one string), not 5"),
    ("tags", ["ok", 3], "tags must be a list of non-empty strings"),
    ("language", None, "language must be a language code such as \"en\", not None"),
    ("language", 7, "language must be a language code"),
    ("text", 5, "text must be a string, not 5 (a number) (quote it)"),
    ("text", ["a"], "text must be a string, not ['a'] (a list)"),
    ("prompt_text", {"a": 1}, "prompt_text must be a string"),
    ("prompt_audio", 3, "prompt_audio must be a string path, not 3 (a number)"),
])
def test_wrong_field_types_are_named(tmp_path, field, value, message):
    path = jsonl_suite(tmp_path, [json.dumps({"id": "a", "text": "hi", field: value})])
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    assert "items.jsonl:1: " in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("line, message", [
    ("metrics: 5", "metrics must be a list of metric names"),
    ("metrics: [wer, 3]", "metrics must be a list of metric names"),
    ("main_metric: [wer]", "main_metric must be a string"),
    ("options: [1, 2]", "options must be a mapping"),
])
def test_wrong_spec_field_types_are_named(tmp_path, line, message):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nversion: \"1\"\nitems: []\n{line}\n")
    with pytest.raises(SuiteError, match=f"s.yaml: {message}"):
        load_suite(str(path))


@pytest.mark.parametrize("name", ["../../escape", "a/b", ".hidden", "x\ny"])
def test_suite_names_cannot_become_paths(tmp_path, name):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: {json.dumps(name)}\nversion: \"1\"\nitems: []\n")
    with pytest.raises(SuiteError, match="suite name"):
        load_suite(str(path))


def test_yaml_syntax_errors_point_at_the_line_and_quote_it(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nversion: \"1\"\nitems:\n  - {id: a, text: x}\n  - id: b\n    text: c: d\n")
    with pytest.raises(SuiteError) as err:
        load_suite(str(path))
    assert str(err.value) == (f"{path}: YAML syntax error at line 6, column 12: mapping values are not allowed "
                              "here; the line reads: '    text: c: d'")


@pytest.mark.parametrize("text, message", [
    ('name: s\nversion: "1"\nlol: &a ["x", "x"]\nlol2: &b [*a, *a]\nitems: []\n', "alias *a refused"),
    ("name: s\nversion: \"1\"\nitems: " + "[" * 100_000 + "\n", "nested too deeply"),
    ("name: s\nversion: \"1\"\ndescription: " + "x" * (2 << 20) + "\nitems: []\n",
     "s.yaml:3: line is 2,097,165 characters long (limit 1,048,576)"),
])
def test_yaml_bombs_and_absurd_lines_are_refused_quickly(tmp_path, text, message):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    start = time.monotonic()
    with pytest.raises(SuiteError, match=message.replace("*", r"\*").replace("(", r"\(").replace(")", r"\)")):
        load_suite(str(path))
    assert time.monotonic() - start < 30  # a guard against hanging, not a timing claim


def test_absurd_jsonl_lines_and_files_are_refused(tmp_path):
    path = jsonl_suite(tmp_path, [json.dumps({"id": "a", "text": "x" * (2 << 20)})])
    with pytest.raises(SuiteError, match=r"items.jsonl:1: line is 2,097,\d+ characters long"):
        load_suite(path)
    with open(tmp_path / "items.jsonl", "wb") as f:
        f.truncate(65 << 20)  # sparse: no disk used, refused from its size
    with pytest.raises(SuiteError, match=r"items.jsonl: 65 MiB is more than a text file of this kind can be"):
        load_suite(path)


def test_text_utf8_cannot_encode_fails_that_item_only(tmp_path):
    """JSON accepts "\\ud800" (a lone surrogate); no file can hold it as UTF-8."""
    lines = ['{"id": "bad", "text": "Hello \\ud800 there."}', '{"id": "good", "text": "Fine."}']
    suite = load_suite(jsonl_suite(tmp_path, lines))
    assert [i.id for i in suite.items] == ["bad", "good"]
    assert suite.problems == {"bad": f"{tmp_path / 'items.jsonl'}:1: item 'bad': text that UTF-8 cannot encode "
                                     "(a lone surrogate): text holds U+D800 at character 6"}
    assert suite.items[0].text == "Hello \ufffd there."
    json.dumps(suite.describe(), ensure_ascii=False).encode("utf-8")
