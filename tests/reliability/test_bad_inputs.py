"""The bad-input corpus (bad_inputs.py) through the real CLI: every run completes; each
bad item is a counted failure whose message names the file or item and the problem,
or gets a correct score; the other items are scored; bad suite files are refused at
load naming the file (and line) and the problem."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bad_inputs import ITEM_ROWS, REFUSED, audio_corpus, expected_failure, item_suite, refused_suites

from evalkit.store import read_samples

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE_PROMPT = REPO_ROOT / "suites" / "smoke" / "audio" / "prompt-m3.flac"
TEXT = "The quick brown fox jumps over the lazy dog."
# Kinds that score, for the one pass with the real Whisper and ECAPA models.
MODEL_KINDS = ("one-sample", "digital-silence", "clipping", "stereo", "six-channels", "rate-8k", "rate-192k",
               "pcm-pcm_u8", "mp3-behind-wav", "truncated")


def cli(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=600, check=False)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stdout + res.stderr
    return res


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The audio files, and a suite with one item per kind (ids are the kind names)."""
    root = tmp_path_factory.mktemp("corpus")
    audio = root / "audio"
    audio.mkdir()
    kinds = audio_corpus()
    for kind in kinds:
        kind.write(audio / f"{kind.name}.wav")
    rows = [{"id": k.name, "text": TEXT} for k in kinds]
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "corpus.yaml").write_text('name: corpus\nversion: "1"\nitems: items.jsonl\n')
    yield root, kinds
    (audio / "unreadable.wav").chmod(0o644)


def records(run_dir: Path) -> dict[str, dict]:
    return read_samples(run_dir / "samples.jsonl")[0]


def assert_outcomes(run_dir: Path, kinds, path_of, skip=(), at_load=None) -> None:
    """Each kind failed with a message naming its file and the problem, or scored and
    checked. `at_load`: kind -> the problem its item is refused with at suite load."""
    found = records(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] and metrics["n_done"] == len(found) == len(kinds) - len(skip)
    failures = 0
    for kind in (k for k in kinds if k.name not in skip):
        record, expected = found[kind.name], expected_failure(kind)
        if expected is None:
            assert record["error"] is None and not record["metric_errors"], (kind.name, record["error"])
            duration = record["scores"]["duration"]
            assert kind.check is None or kind.check(duration), (kind.name, duration)
        elif kind.name in (at_load or {}):
            failures += 1
            error = record["error"]
            assert error["stage"] == "load" and f"item {kind.name!r}" in error["message"], error
            assert at_load[kind.name] in error["message"], error
        else:
            failures += 1
            message = record["error"]["message"]
            assert str(path_of(kind)) in message and expected in message, (kind.name, message)
    assert metrics["n_failed"] == failures
    assert metrics["metrics"]["duration_ratio"]["n"] == len(kinds) - len(skip) - failures


def test_audio_corpus_through_an_audio_folder(corpus, tmp_path):
    root, kinds = corpus
    assert len(kinds) >= 25
    out = tmp_path / "run"
    cli("run", "--suite", str(root / "corpus.yaml"), "--system", "audio-dir", "--audio-dir", str(root / "audio"),
        "--metrics", "rtf,duration", "--out", str(out), "-q")
    assert_outcomes(out, kinds, lambda k: root / "audio" / f"{k.name}.wav")


def test_audio_corpus_as_ground_truth_recordings(corpus, tmp_path):
    """The same files as the suite's ground truth: what is not a file fails at load, the
    rest as through the folder. (The 4 GiB sparse file is left out: a suite's content
    hash reads every recording it names, which takes minutes for 4 GiB.)"""
    root, kinds = corpus
    rows = [{"id": k.name, "text": TEXT, "reference_audio": f"audio/{k.name}.wav"}
            for k in kinds if k.name != "sparse-4gib"]
    (root / "truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "truth.yaml").write_text('name: corpus-truth\nversion: "1"\nitems: truth.jsonl\n')
    out = tmp_path / "run"
    cli("run", "--suite", str(root / "truth.yaml"), "--system", "ground-truth", "--metrics", "rtf,duration",
        "--out", str(out), "-q")
    at_load = {"dangling-symlink": "nowhere.wav does not exist", "directory": "is a directory, not an audio file",
               "named-pipe": "is not a regular file (a pipe, device or socket)"}
    assert_outcomes(out, kinds, lambda k: root / "audio" / f"{k.name}.wav", skip=("sparse-4gib",), at_load=at_load)


def test_audio_corpus_with_the_real_asr_and_speaker_models(corpus, tmp_path):
    """One pass of Whisper tiny.en (WER) and ECAPA (SIM) over the kinds that score."""
    root, kinds = corpus
    rows = [{"id": name, "text": TEXT, "prompt_audio": "prompt.flac"} for name in MODEL_KINDS]
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copyfile(SMOKE_PROMPT, folder / "prompt.flac")
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "s.yaml").write_text('name: corpus-models\nversion: "1"\nitems: items.jsonl\n')
    out = tmp_path / "run"
    cli("run", "--suite", str(folder / "s.yaml"), "--system", "audio-dir", "--audio-dir", str(root / "audio"),
        "--metrics", "wer,sim", "--out", str(out), "-q")
    found = records(out)
    assert set(found) == set(MODEL_KINDS)
    for name, record in found.items():  # one sample, silence, six channels, 192 kHz: all scored
        assert record["error"] is None and record["metric_errors"] == {}, (name, record)
        assert {"wer", "sim"} <= set(record["scores"]), (name, record["scores"])
    assert found["digital-silence"]["scores"]["wer"]["wer"] == 1.0  # nothing said: every word deleted
    sims = {n: r["scores"]["sim"]["sim_o"] for n, r in found.items()}
    assert all(abs(s) < 0.3 for s in sims.values()), sims  # a tone is nobody's voice


def test_odd_item_texts_fail_alone_and_the_rest_is_scored(tmp_path, espeak):
    from evalkit.cli import main

    spec = item_suite(tmp_path / "suite")
    out = tmp_path / "run"
    assert main(["run", "--suite", str(spec), "--system", "espeak", "--out", str(out), "-q"]) == 0
    found = records(out)
    assert [r["item_id"] for r in found.values()] == [row["id"] for row, _ in ITEM_ROWS]
    for row, problem in ITEM_ROWS:
        record = found[row["id"]]
        if problem is None:
            assert record["error"] is None, record
            assert record["text"] == row["text"]  # stored exactly (U+2028, U+0085, NUL, RTL)
            assert record["scores"]["duration"]["seconds"] > 0.3
        else:
            assert record["error"]["stage"] == "load" and problem in record["error"]["message"], record["error"]
            assert f"item {row['id']!r}" in record["error"]["message"]
    (out / "samples.jsonl").read_bytes().decode("utf-8")  # the store stayed UTF-8
    # The run resumes (nothing left to do) and reports from the same records.
    assert main(["run", "--suite", str(spec), "--system", "espeak", "--out", str(out), "-q"]) == 0
    assert records(out) == found


@pytest.fixture(scope="module")
def refused(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return {kind: (path, message) for kind, path, message in refused_suites(tmp_path_factory.mktemp("refused"))}


@pytest.mark.parametrize("kind", [kind for kind, *_ in REFUSED])
def test_bad_suite_files_are_refused_naming_file_line_and_problem(kind, refused, tmp_path, capsys):
    from evalkit.cli import main

    path, message = refused[kind]
    out = tmp_path / "never"
    code = main(["run", "--suite", str(path), "--system", "espeak", "--metrics", "duration", "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and f"{path}{message}" in err, err[:500]
    assert "Traceback" not in err and not out.exists() and not (tmp_path / "pwned").exists()


SURROGATE_PLUGIN = '''
from evalkit.systems.espeak import EspeakSystem


class SurrogateExtras(EspeakSystem):
    """espeak whose output carries, for one item, text that UTF-8 cannot encode."""
    name = "surrogate-extras"

    def synthesize(self, items, seeds):
        out = super().synthesize(items, seeds)
        return [s if i.id != "b" else type(s)(s.audio, s.sample_rate, s.seconds, s.stages, {"note": "x\\ud800"})
                for i, s in zip(items, out)]
'''


def test_output_utf8_cannot_encode_fails_its_item_and_the_run_finishes_and_resumes(tmp_path, espeak):
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "evalkit_surrogate_plugin.py").write_text(SURROGATE_PLUGIN)
    rows = [{"id": i, "text": f"Sentence {i} is here."} for i in "abc"]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "evalkit", "run", "--suite", str(tmp_path / "items.jsonl"), "--system",
           "evalkit_surrogate_plugin:SurrogateExtras", "--metrics", "duration", "--out", str(out), "-q"]
    env = {**__import__("os").environ, "PYTHONPATH": f"{plugin}:{REPO_ROOT}"}
    for extra in ([], [], ["--retry-failed"]):  # the first run, a resume, a retry of the failure
        res = subprocess.run(cmd + extra, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
                             check=False)
        assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
        found = records(out)
        assert list(found) == ["a", "c", "b"] or set(found) == {"a", "b", "c"}
        assert found["a"]["error"] is None and found["c"]["error"] is None
        error = found["b"]["error"]
        assert error["stage"] == "store" and error["message"].startswith("item 'b': system_extras.note held text")
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["complete"] and metrics["n_failed"] == 1
