"""WER/CER arithmetic from per-item edit counts: against jiwer directly, corpus vs macro,
per-tag summaries, failures, and exact merging of shards."""

import jiwer
import pytest

from evalkit.metrics.normalizers import get_normalizer
from evalkit.metrics.wer import score_text, wer_summaries

NORM = get_normalizer("seedtts")
PAIRS = [
    ("the cat sat on the mat", "the cat sat on a mat"),
    ("a b", "a b c d e"),
    ("hello world how are you today", "hello world"),
    ("one two three four five six seven eight", "one two three four five six seven eight"),
]


def records(pairs=PAIRS, tags=None):
    out = []
    for i, (ref, hyp) in enumerate(pairs):
        r = score_text(ref, hyp, NORM)
        r["tags"] = list(tags[i]) if tags else []
        out.append(r)
    return out


def test_corpus_wer_and_cer_equal_jiwer_on_the_whole_corpus():
    refs, hyps = [NORM(r) for r, _ in PAIRS], [NORM(h) for _, h in PAIRS]
    s = wer_summaries(records(), [])
    assert s["wer"].value == pytest.approx(jiwer.wer(refs, hyps))
    assert s["cer"].value == pytest.approx(jiwer.cer(refs, hyps))
    ops = jiwer.process_words(refs, hyps)
    assert s["wer_sub"].extra["count"] == ops.substitutions
    assert s["wer_del"].extra["count"] == ops.deletions
    assert s["wer_ins"].extra["count"] == ops.insertions


def test_corpus_and_macro_differ_as_they_should():
    # A short utterance with many insertions weighs 1/4 in the macro mean but only
    # 2 of 22 reference words in the corpus figure.
    s = wer_summaries(records(), [])
    per_utt = [jiwer.wer(NORM(r), NORM(h)) for r, h in PAIRS]
    assert s["wer_macro"].value == pytest.approx(sum(per_utt) / len(per_utt))
    assert s["wer_macro"].value > s["wer"].value + 0.2
    assert s["wer"].extra["main"] is True and "main" not in s["wer_macro"].extra
    assert wer_summaries(records(), [], main="macro")["wer_macro"].extra["main"] is True


def test_every_summary_has_n_failed_and_a_ci():
    s = wer_summaries(records(), [3])
    for name in ("wer", "wer_macro", "cer", "wer_sub", "wer_del", "wer_ins", "wer_with_failures"):
        assert s[name].n == len(PAIRS) and s[name].n_failed == 1, name
        lo, hi = s[name].ci95
        assert lo <= s[name].value <= hi, name
        assert s[name].higher_is_better is False


def test_wer_with_failures_counts_failed_reference_words_as_deleted():
    recs = records()
    edits = sum(r["words"]["sub"] + r["words"]["del"] + r["words"]["ins"] for r in recs)
    words = sum(r["words"]["ref"] for r in recs)
    s = wer_summaries(recs, [5, 7])
    assert s["wer"].value == pytest.approx(edits / words)
    assert s["wer_with_failures"].value == pytest.approx((edits + 12) / (words + 12))
    assert s["wer_with_failures"].value > s["wer"].value


def test_per_tag_breakdown():
    tags = [("numbers",), ("short", "numbers"), (), ("short",)]
    s = wer_summaries(records(tags=tags), [4], failed_tags=[("numbers",)])
    assert set(s) >= {"wer[numbers]", "wer[short]"}
    only_numbers = wer_summaries(records([PAIRS[0], PAIRS[1]]), [])
    assert s["wer[numbers]"].value == pytest.approx(only_numbers["wer"].value)
    assert s["wer[numbers]"].n == 2 and s["wer[numbers]"].n_failed == 1
    assert s["wer[short]"].n_failed == 0


def test_shards_merge_exactly():
    recs = records()
    whole = wer_summaries(recs, [])
    merged = wer_summaries(recs[:2] + recs[2:], [])  # e.g. two workers' samples.jsonl
    assert merged["wer"].value == whole["wer"].value and merged["wer"].ci95 == whole["wer"].ci95


def test_record_fields():
    r = score_text("Hello, World!", "hello word", NORM)
    assert r["ref_norm"] == "hello world" and r["hyp_norm"] == "hello word"
    assert r["words"] == {"sub": 1, "del": 0, "ins": 0, "hit": 1, "ref": 2}
    assert r["chars"]["ref"] == len("hello world") and r["chars"]["del"] == 1
    assert r["wer"] == 0.5


def test_empty_hypothesis_is_all_deletions():
    r = score_text("three words here", "", NORM)
    assert r["words"]["del"] == 3 and r["wer"] == 1.0


def test_no_values_gives_empty_summaries():
    s = wer_summaries([], [4])
    assert s["wer"].value is None and s["wer"].n == 0 and s["wer"].n_failed == 1
    assert s["wer_with_failures"].value == 1.0
