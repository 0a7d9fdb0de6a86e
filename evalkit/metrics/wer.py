"""Intelligibility: word and character error rates of Whisper transcripts.

Per item, the metric stores the raw transcript, the normalized reference and
hypothesis, and the word and character edit operations of their jiwer alignment
(substitutions, deletions, insertions, hits, reference length). Every summary is
computed from those counts, so shards merge exactly and intervals can be recomputed
from samples.jsonl alone:

- ``wer``: corpus (micro) WER = sum of word edits / sum of reference words;
- ``wer_macro``: mean of per-utterance WERs (Seed-TTS-eval's and F5-TTS's figure);
- ``cer``: corpus character error rate (characters of the normalized text, spaces included);
- ``wer_sub`` / ``wer_del`` / ``wer_ins``: corpus rate of each edit operation;
- ``wer_with_failures``: corpus WER counting every failed item as all of its reference
  words deleted (``wer`` itself is over successfully scored items only);
- ``wer[<tag>]``: corpus WER of the items carrying that tag.

Each carries n, n_failed and a 95% item-bootstrap interval (ratios resampled as a
ratio of sums; see evalkit.metrics.stats).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, Mapping, Sequence

from evalkit.metrics.asr_decoding import AsrOptions
from evalkit.metrics.base import Metric, ScoreInput, Summary, summary_of_terms
from evalkit.metrics.normalizers import Normalizer, get_normalizer
from evalkit.types import Item, ItemError


def edit_counts(reference: str, hypothesis: str, unit: str = "word") -> dict[str, int]:
    """Edit operations aligning normalized `hypothesis` to normalized `reference` (jiwer)."""
    import jiwer

    if unit == "word":
        out = jiwer.process_words(reference, hypothesis)
    else:
        out = jiwer.process_characters(reference, hypothesis)
    return {
        "sub": out.substitutions,
        "del": out.deletions,
        "ins": out.insertions,
        "hit": out.hits,
        "ref": out.substitutions + out.deletions + out.hits,
    }


def errors(counts: Mapping[str, int]) -> int:
    return counts["sub"] + counts["del"] + counts["ins"]


def rate(counts: Mapping[str, int]) -> float | None:
    return errors(counts) / counts["ref"] if counts["ref"] else None


def score_text(reference: str, transcript: str, normalizer: Normalizer) -> dict[str, Any]:
    """The per-item record of one transcript against its reference."""
    ref, hyp = normalizer(reference), normalizer(transcript)
    words, chars = edit_counts(ref, hyp, "word"), edit_counts(ref, hyp, "char")
    return {
        "transcript": transcript,
        "reference": reference,
        "ref_norm": ref,
        "hyp_norm": hyp,
        "words": words,
        "chars": chars,
        "wer": rate(words),
        "cer": rate(chars),
    }


def reference_text(item: Item) -> str:
    return item.reference_text or item.text


def wer_terms(values: Mapping[Any, Mapping[str, Any]], failed_ref_words: Mapping[Any, int]) -> dict[str, dict]:
    """Per summary name, per item key: (numerator, denominator). Corpus rates are edits /
    reference units, the macro WER a mean (denominator 1); a failed item counts in
    ``wer_with_failures`` as all of its reference words deleted."""
    words = {k: v["words"] for k, v in values.items()}

    def over_ref_words(count) -> dict[Any, tuple[float, float]]:
        return {k: (float(count(w)), float(w["ref"])) for k, w in words.items()}

    out = {
        "wer": over_ref_words(errors),
        "cer": {k: (float(errors(v["chars"])), float(v["chars"]["ref"])) for k, v in values.items()},
        "wer_macro": {k: (v["wer"], 1.0) for k, v in values.items() if v["wer"] is not None},
        **{f"wer_{op}": over_ref_words(lambda w, op=op: w[op]) for op in ("sub", "del", "ins")},
    }
    out["wer_with_failures"] = {**out["wer"], **{k: (float(n), float(n)) for k, n in failed_ref_words.items()}}
    for tag in sorted({t for v in values.values() for t in v.get("tags", ())}):
        out[f"wer[{tag}]"] = {k: t for k, t in out["wer"].items() if tag in values[k].get("tags", ())}
    return out


def wer_summaries(
    values: Sequence[Mapping[str, Any]],
    failed_ref_words: Sequence[int],
    failed_tags: Sequence[Sequence[str]] = (),
    main: str = "corpus",
    protocol: str = "evalkit",
    not_applicable_tags: Sequence[Sequence[str]] = (),
) -> dict[str, Summary]:
    """All WER/CER summaries from per-item records and the failed items' reference lengths.
    `not_applicable_tags`: the tags of each item the metric could not score; a tag all
    of whose items were not applicable still gets its row (n = 0)."""
    # keys only need to be distinct: a scored item's position, or ("failed", position)
    terms = wer_terms(dict(enumerate(values)), {("failed", i): n for i, n in enumerate(failed_ref_words)})
    n_failed = len(failed_ref_words)

    n_na = len(not_applicable_tags)

    def summary(name: str, n_failed: int = n_failed, n_not_applicable: int = n_na, **extra: Any) -> Summary:
        return summary_of_terms(terms.get(name, {}), n_failed, False, protocol=protocol,
                                n_not_applicable=n_not_applicable, **extra)

    def sums(name: str) -> tuple[int, int]:
        return tuple(int(sum(t[i] for t in terms[name].values())) for i in (0, 1))

    edits, ref_words = sums("wer")
    out = {
        "wer": summary("wer", errors=edits, ref_words=ref_words),
        "cer": summary("cer"),
        "wer_macro": summary("wer_macro"),
        **{f"wer_{op}": summary(f"wer_{op}", count=sums(f"wer_{op}")[0]) for op in ("sub", "del", "ins")},
        # n: the scored items; the failed ones are n_failed
        "wer_with_failures": replace(summary("wer_with_failures"), n=len(values)),
    }
    tags = sorted({t for v in values for t in v.get("tags", ())} | {t for ts in failed_tags for t in ts}
                  | {t for ts in not_applicable_tags for t in ts})
    for tag in tags:
        out[f"wer[{tag}]"] = summary(f"wer[{tag}]", n_failed=sum(tag in ts for ts in failed_tags),
                                     n_not_applicable=sum(tag in ts for ts in not_applicable_tags))
    main_name = "wer" if main == "corpus" else "wer_macro"
    out[main_name] = replace(out[main_name], extra={**out[main_name].extra, "main": True})
    return out


@dataclass(frozen=True)
class WerOptions(AsrOptions):
    """The ASR's options (evalkit.metrics.asr_decoding.AsrOptions) and how its transcripts are scored."""

    protocol: str = "evalkit"  # the protocol these options came from (evalkit.metrics.protocols)
    normalizer: str = "whisper-english"
    main: Literal["corpus", "macro"] = "corpus"  # the headline: corpus WER or the mean of per-item WERs
    # Clips per Whisper decode (and per score() call); never changes a transcript
    # (tests/metrics/test_wer_real.py checks 1 against the default).
    batch_size: int = 16


class WerMetric(Metric):
    """Whisper transcript (cached per audio) -> normalized WER/CER against the item's text."""

    name = "wer"
    version = "1"
    description = "intelligibility: Whisper ASR -> WER/CER (corpus and per-utterance)"
    higher_is_better = False
    requires = frozenset({"text"})
    batch_size = 16

    Options = WerOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        from evalkit.metrics.asr import Asr

        self.normalizer = get_normalizer(self.opts.normalizer)
        self.asr = Asr(AsrOptions.from_options(self.options))

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "normalizer": self.normalizer.provenance(), "asr": self.asr.provenance()}

    def cache_key(self, inp: ScoreInput) -> str:
        from evalkit.cache import content_key

        # Tags are stored with the value (for per-tag summaries), so they key it too.
        return content_key(super().cache_key(inp), sorted(inp.item.tags))

    def not_applicable(self, inp: ScoreInput) -> str | None:
        reason = super().not_applicable(inp)
        if reason is None and not self.normalizer(reference_text(inp.item)):
            reason = f"reference text is empty after the {self.normalizer.name} normalizer"
        return reason

    def setup(self, device: str) -> None:
        self.asr.setup(device)

    def teardown(self) -> None:
        self.asr.teardown()

    def score(self, batch: Sequence[ScoreInput]) -> list[dict[str, Any] | ItemError]:
        transcripts = self.asr.transcribe(
            [inp.audio_sha256 for inp in batch], [inp.all_channels for inp in batch], [inp.sample_rate for inp in batch]
        )
        out: list[dict[str, Any] | ItemError] = []
        for inp, t in zip(batch, transcripts):
            record = score_text(reference_text(inp.item), t.text, self.normalizer)
            record.update(tags=list(inp.item.tags), asr=t.to_json())
            del record["asr"]["text"]  # already stored as "transcript"
            out.append(record)
        return out

    def paired_terms(self, values, failed):
        return wer_terms(values, {k: self._ref_words(item) for k, item in failed.items()})

    def _ref_words(self, item: Item) -> int:
        return len(self.normalizer(reference_text(item)).split())

    def aggregate(self, values: Sequence[Mapping[str, Any]], failed: Sequence[Item],
                  not_applicable: Sequence[Item] = ()) -> dict[str, Summary]:
        return wer_summaries(
            values,
            [self._ref_words(item) for item in failed],
            [item.tags for item in failed],
            main=self.options["main"],
            protocol=self.options["protocol"],
            not_applicable_tags=[item.tags for item in not_applicable],
        )
