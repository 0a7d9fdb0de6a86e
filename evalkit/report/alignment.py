"""Word alignment of a transcript against its reference, for highlighting.

The metric stores the normalized reference and hypothesis (the exact word sequences
its edit counts come from); aligning them again with jiwer gives the same operations,
grouped into runs: ["=", words], ["S", ref words, hyp words], ["D", ref words],
["I", hyp words]. Compact, and rendered by the page's script as text (never as HTML).
"""
from __future__ import annotations

Op = list  # ["=" | "S" | "D" | "I", text, (hyp text for "S")]

_CODES = {"equal": "=", "substitute": "S", "delete": "D", "insert": "I"}


def align_words(reference: str, hypothesis: str) -> list[Op]:
    ref_words, hyp_words = reference.split(), hypothesis.split()
    if not ref_words or not hyp_words:  # jiwer refuses empty references
        return ([["D", " ".join(ref_words)]] if ref_words else []) + ([["I", " ".join(hyp_words)]] if hyp_words else [])
    import jiwer

    out = jiwer.process_words(" ".join(ref_words), " ".join(hyp_words))
    ops: list[Op] = []
    for chunk in out.alignments[0]:
        ref = " ".join(ref_words[chunk.ref_start_idx : chunk.ref_end_idx])
        hyp = " ".join(hyp_words[chunk.hyp_start_idx : chunk.hyp_end_idx])
        code = _CODES[chunk.type]
        ops.append({"=": [code, ref], "S": [code, ref, hyp], "D": [code, ref], "I": [code, hyp]}[code])
    return ops
