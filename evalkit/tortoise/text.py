"""TorToiSe's text front end: English cleaning and byte-pair tokenization.

Produces the same token ids as tortoise-tts 3.0.0's `VoiceBpeTokenizer` (english cleaners):

1. transliterate to ASCII (unidecode), then lowercase;
2. spell out numbers: drop thousands separators, "$" amounts, decimals, ordinals, years and plain
   integers (inflect);
3. expand a fixed list of abbreviations ("dr." -> "doctor");
4. collapse whitespace and delete double quotes;
5. replace every space by the `[SPACE]` token and run the byte-pair tokenizer of `data/tokenizer.json`.

The order matters and is TorToiSe's: transliteration runs first, so "£" has already become "PS" when
numbers are expanded: "£5" is read "psfive" (the reference's "£ -> pounds" rule can never fire, and
is therefore not here), "€5" "eurfive".

`model_text_tokens()` adds the one trailing `[STOP]` (id 0) that tortoise's `TextToSpeech.tts` appends
to every text before both the autoregressive model and CLVP see it.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

DEFAULT_VOCAB = Path(__file__).with_name("data") / "tokenizer.json"
STOP_TEXT_TOKEN = 0  # "[STOP]": also the text padding id the models expect
SPACE_TOKEN = "[SPACE]"

_WHITESPACE = re.compile(r"\s+")
_NUMBER_WITH_COMMAS = re.compile(r"([0-9][0-9,]+[0-9])")
_DOLLARS = re.compile(r"\$([0-9.,]*[0-9]+)")
_DECIMAL = re.compile(r"([0-9]+\.[0-9]+)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_INTEGER = re.compile(r"[0-9]+")

# Applied in this order, so "mrs." is expanded before "mr." could match its prefix.
_ABBREVIATIONS = [
    (re.compile(rf"\b{short}\.", re.IGNORECASE), long)
    for short, long in [
        ("mrs", "misess"), ("mr", "mister"), ("dr", "doctor"), ("st", "saint"), ("co", "company"),
        ("jr", "junior"), ("maj", "major"), ("gen", "general"), ("drs", "doctors"), ("rev", "reverend"),
        ("lt", "lieutenant"), ("hon", "honorable"), ("sgt", "sergeant"), ("capt", "captain"),
        ("esq", "esquire"), ("ltd", "limited"), ("col", "colonel"), ("ft", "fort"),
    ]
]


@functools.cache
def _inflect_engine():
    import inflect

    return inflect.engine()


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _spell_dollars(match: re.Match) -> str:
    amount = match.group(1)
    parts = amount.split(".")
    if len(parts) > 2:  # e.g. "$1.2.3": not an amount, keep the digits
        return f"{amount} dollars"
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    if dollars and cents:
        return f"{_plural(dollars, 'dollar')}, {_plural(cents, 'cent')}"
    if dollars:
        return _plural(dollars, "dollar")
    if cents:
        return _plural(cents, "cent")
    return "zero dollars"


def _spell_integer(match: re.Match) -> str:
    number = int(match.group(0))
    words = _inflect_engine().number_to_words
    if not 1000 < number < 3000:
        return words(number, andword="")
    # Years: 1999 -> "nineteen ninety-nine", 1900 -> "nineteen hundred", 2005 -> "two thousand five".
    if number == 2000:
        return "two thousand"
    if 2000 < number < 2010:
        return "two thousand " + words(number % 100)
    if number % 100 == 0:
        return words(number // 100) + " hundred"
    return words(number, andword="", zero="oh", group=2).replace(", ", " ")


def expand_numbers(text: str) -> str:
    """Spell out the digits in already lowercased ASCII text, as TorToiSe does."""
    text = _NUMBER_WITH_COMMAS.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _DOLLARS.sub(_spell_dollars, text)
    text = _DECIMAL.sub(lambda m: m.group(1).replace(".", " point "), text)
    text = _ORDINAL.sub(lambda m: _inflect_engine().number_to_words(m.group(0)), text)
    return _INTEGER.sub(_spell_integer, text)


def expand_abbreviations(text: str) -> str:
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return text


def english_cleaners(text: str) -> str:
    """TorToiSe's text normalisation (see the module docstring for the steps)."""
    from unidecode import unidecode

    text = unidecode(text).lower()
    text = expand_numbers(text)
    text = expand_abbreviations(text)
    text = _WHITESPACE.sub(" ", text)
    return text.replace('"', "")


class TextTokenizer:
    """Cleans text and maps it to TorToiSe's byte-pair token ids (and back)."""

    def __init__(self, vocab_path: str | Path = DEFAULT_VOCAB):
        from tokenizers import Tokenizer

        self.vocab_path = Path(vocab_path)
        if not self.vocab_path.is_file():
            raise FileNotFoundError(f"TorToiSe tokenizer vocabulary not found: {self.vocab_path}")
        self._tokenizer = Tokenizer.from_file(str(self.vocab_path))

    def encode(self, text: str) -> list[int]:
        cleaned = english_cleaners(text).replace(" ", SPACE_TOKEN)
        return self._tokenizer.encode(cleaned).ids

    def decode(self, ids) -> str:
        """Token ids back to (cleaned) text; special tokens other than spaces are dropped."""
        ids = [int(i) for i in ids]
        text = self._tokenizer.decode(ids, skip_special_tokens=False).replace(" ", "")
        return text.replace(SPACE_TOKEN, " ").replace("[STOP]", "").replace("[UNK]", "")


@functools.cache
def default_tokenizer() -> TextTokenizer:
    return TextTokenizer()


def model_text_tokens(text: str, tokenizer: TextTokenizer | None = None) -> list[int]:
    """The text ids TorToiSe's models are fed: `encode(text)` plus one trailing `[STOP]` (id 0).

    tortoise's `TextToSpeech.tts` pads every text this way before the autoregressive model, the
    return-latent pass and CLVP ("This may not be necessary", says its comment; the released
    models were nevertheless run with it, so evalkit keeps it).
    """
    return (tokenizer or default_tokenizer()).encode(text) + [STOP_TEXT_TOKEN]
