"""Text normalizers applied to both reference and ASR hypothesis before WER/CER.

A normalizer is named and versioned: the name and version go into the metric's
provenance and therefore into score cache keys, so changing a normalizer rescores
(cheaply, from cached transcripts) instead of silently mixing conventions.

- ``whisper-english``: openai-whisper's ``EnglishTextNormalizer`` (evalkit's default).
  Spells numbers as digits, expands contractions, Americanizes spellings, drops
  bracketed text and fillers. Its traps are listed in docs/metrics.md.
- ``seedtts``: Seed-TTS-eval's ``process_one`` for English (run_wer.py): every
  character of ``string.punctuation`` and of zhon's Chinese punctuation is deleted
  except the ASCII apostrophe, then lower-casing. No number normalization.
- ``f5``: F5-TTS's ``run_asr_wer`` for English (src/f5_tts/eval/utils_eval.py): the
  same character set deleted *including* the apostrophe, then lower-casing.

Whitespace is finally collapsed the way jiwer's default WER transform does
(``RemoveMultipleSpaces`` + ``Strip``), which is what both reference scripts feed to
``jiwer.compute_measures``; the normalized text is therefore exactly the word
sequence that gets aligned.
"""
from __future__ import annotations

import re
import string
from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any

from evalkit.types import EvalkitError

# zhon 2.1.1 ``zhon.hanzi.punctuation`` (non-stops + stops), which both reference
# scripts add to ``string.punctuation``. Written out so that evalkit does not depend on
# zhon; tests check it against zhon when zhon is installed. For English text the
# members that matter are the curly quotes (U+2018/2019/201C/201D), the en and em
# dashes (U+2013/2014), the ellipsis (U+2026) and the middle dot (U+00B7).
ZHON_PUNCTUATION = (
    # fullwidth ASCII variants
    "\uff02\uff03\uff04\uff05\uff06\uff07\uff08\uff09\uff0a\uff0b\uff0c\uff0d"
    "\uff0f\uff1a\uff1b\uff1c\uff1d\uff1e\uff20\uff3b\uff3c\uff3d\uff3e\uff3f"
    "\uff40\uff5b\uff5c\uff5d\uff5e\uff5f\uff60"
    # halfwidth CJK punctuation
    "\uff62\uff63\uff64"
    # CJK symbols and punctuation (including the ideographic space U+3000)
    "\u3000\u3001\u3003"
    # CJK angle and corner brackets
    "\u3008\u3009\u300a\u300b\u300c\u300d\u300e\u300f\u3010\u3011"
    # CJK brackets and symbols
    "\u3014\u3015\u3016\u3017\u3018\u3019\u301a\u301b\u301c\u301d\u301e\u301f"
    # other CJK symbols, special CJK indicators
    "\u3030\u303e\u303f"
    # dashes
    "\u2013\u2014"
    # quotation marks and apostrophes
    "\u2018\u2019\u201b\u201c\u201d\u201e\u201f"
    # general punctuation, overscores and underscores, small form variants
    "\u2026\u2027\ufe4f\ufe51\ufe54"
    # Latin punctuation
    "\u00b7"
    # stops: fullwidth full stop, exclamation and question marks, halfwidth and
    # ideographic full stops
    "\uff0e\uff01\uff1f\uff61\u3002"
)
REFERENCE_PUNCTUATION = ZHON_PUNCTUATION + string.punctuation

_MULTIPLE_SPACES = re.compile(r"\s\s+")


def collapse_spaces(text: str) -> str:
    """jiwer's default word transform before splitting: runs of whitespace -> one space, strip."""
    return _MULTIPLE_SPACES.sub(" ", text).strip()


class Normalizer(ABC):
    """A named, versioned text normalization applied to reference and hypothesis alike."""

    name: str
    version: str
    description: str

    @abstractmethod
    def _normalize(self, text: str) -> str: ...

    def __call__(self, text: str) -> str:
        return collapse_spaces(self._normalize(text))

    def provenance(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


# openai-whisper's normalizer turns an ellipsis ("Wait...", "Wait…") into a lone "."
# token ("wait ."): a word that no hypothesis says, and a filler-only reference
# ("Um... uh...") would become a scored one-token reference instead of an empty one.
_LONE_DOTS = re.compile(r"(?<!\S)\.+(?!\S)")


class WhisperEnglishNormalizer(Normalizer):
    name = "whisper-english"
    version = "2"  # 2: lone "." tokens (from ellipses) removed
    description = "openai-whisper's EnglishTextNormalizer on both sides (numbers to digits, US spelling)"

    @cached_property
    def _impl(self):
        # Importing whisper imports torch; normalizers are only built when scoring.
        from whisper.normalizers import EnglishTextNormalizer

        return EnglishTextNormalizer()

    def _normalize(self, text: str) -> str:
        return _LONE_DOTS.sub(" ", self._impl(text))

    def provenance(self) -> dict[str, Any]:
        from importlib.metadata import version

        # The normalizer's behaviour (its spelling table, number rules) ships with the
        # package, so the package version is part of this normalizer's identity.
        return {**super().provenance(), "openai-whisper": version("openai-whisper")}


class PunctuationStripper(Normalizer):
    """Delete every character of REFERENCE_PUNCTUATION except `keep`, then lower-case.

    Deleting (not replacing by a space) is what the reference scripts do, so
    "twenty-four" becomes "twentyfour" and "don’t" (curly apostrophe) becomes "dont".
    """

    def __init__(self, name: str, keep: str, description: str) -> None:
        self.name = name
        self.version = "1"
        self.description = description
        self._table = str.maketrans("", "", "".join(c for c in REFERENCE_PUNCTUATION if c not in keep))

    def _normalize(self, text: str) -> str:
        return text.translate(self._table).lower()


NORMALIZERS: dict[str, Normalizer] = {
    n.name: n
    for n in (
        WhisperEnglishNormalizer(),
        PunctuationStripper(
            "seedtts",
            keep="'",
            description="Seed-TTS-eval: punctuation deleted except ASCII apostrophes, lower-cased, numbers as written",
        ),
        PunctuationStripper(
            "f5",
            keep="",
            description="F5-TTS eval: all punctuation deleted (apostrophes too), lower-cased, numbers kept as written",
        ),
    )
}


def get_normalizer(name: str) -> Normalizer:
    try:
        return NORMALIZERS[name]
    except KeyError:
        raise EvalkitError(f"unknown normalizer {name!r} (known: {', '.join(NORMALIZERS)})") from None
