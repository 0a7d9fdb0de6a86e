"""Each normalizer on a table of tricky strings, and the Whisper normalizer's traps
documented in docs/metrics.md."""

import string

import pytest

from evalkit.metrics.normalizers import REFERENCE_PUNCTUATION, ZHON_PUNCTUATION, get_normalizer
from evalkit.types import EvalkitError

# (input, seedtts, f5): what Seed-TTS-eval's process_one and F5-TTS's run_asr_wer make of it.
PUNCTUATION_TABLE = [
    ("Hello, World!", "hello world", "hello world"),
    ("Don't stop.", "don't stop", "dont stop"),
    ("Don’t stop.", "dont stop", "dont stop"),  # curly apostrophe is zhon punctuation
    ("twenty-four", "twentyfour", "twentyfour"),  # deleted, not replaced by a space
    ("It costs $5.50 (approx.)", "it costs 550 approx", "it costs 550 approx"),
    ("“Quoted” — he said…", "quoted he said", "quoted he said"),
    ("Mr. Smith's 2nd car", "mr smith's 2nd car", "mr smiths 2nd car"),
    ("  spaced   out\t", "spaced out", "spaced out"),
    ("UPPER case", "upper case", "upper case"),
    ("colour, 1,500", "colour 1500", "colour 1500"),
]


@pytest.mark.parametrize("text, seedtts, f5", PUNCTUATION_TABLE)
def test_reference_script_normalizers(text, seedtts, f5):
    assert get_normalizer("seedtts")(text) == seedtts
    assert get_normalizer("f5")(text) == f5


def test_punctuation_set_matches_zhon_when_installed():
    zhon = pytest.importorskip("zhon.hanzi")
    assert ZHON_PUNCTUATION == zhon.punctuation


def test_punctuation_set_covers_ascii_and_has_no_letters():
    assert set(string.punctuation) <= set(REFERENCE_PUNCTUATION)
    assert not any(c.isalnum() for c in REFERENCE_PUNCTUATION)


# (input, expected) for openai-whisper's EnglishTextNormalizer: the traps.
WHISPER_TRAPS = [
    # numbers spoken in a row merge into one token, across the comma
    ("In twenty twenty-four, fifteen hundred people came.", "in 20241500 people came"),
    ("one two three", "123"),
    # British spellings become American
    ("the colour of the theatre", "the color of the theater"),
    ("organise", "organize"),
    # a possessive 's is read as "is"
    ("Mr. Smith's car", "mister smith is car"),
    # straight and curly apostrophes differ: "don't" expands, "don’t" splits in two
    ("don't", "do not"),
    ("Don’t", "don t"),
    # bracketed and parenthesized text and fillers are deleted
    ("He said [laughs] (quietly) hmm okay", "he said okay"),
    # number words become digits, but OK / okay are not unified
    ("ten percent", "10%"),
    ("OK okay", "ok okay"),
    # an ellipsis leaves no stray "." (openai-whisper alone gives "wait ."; evalkit removes
    # lone dots), so a filler-only reference normalizes to nothing: not applicable
    ("Wait...", "wait"),
    ("Wait… what?", "wait what"),
    ("Um... uh...", ""),
    ("I paid $3.50... really", "i paid $3.50 really"),  # dots inside a number stay
]


def test_openai_whisper_alone_leaves_the_ellipsis_dot():
    """The bug the whisper-english normalizer works around (if openai-whisper fixes it,
    the workaround and its docs entry can go)."""
    from whisper.normalizers import EnglishTextNormalizer

    assert EnglishTextNormalizer()("Wait...") == "wait ."


@pytest.mark.parametrize("text, expected", WHISPER_TRAPS)
def test_whisper_english_traps(text, expected):
    assert get_normalizer("whisper-english")(text) == expected


def test_whisper_trap_changes_wer_denominator():
    # "one two three" is three reference words for seedtts but one for whisper-english.
    assert len(get_normalizer("seedtts")("one two three").split()) == 3
    assert len(get_normalizer("whisper-english")("one two three").split()) == 1


def test_unknown_normalizer_is_a_clear_error():
    with pytest.raises(EvalkitError, match="unknown normalizer 'nope'.*whisper-english"):
        get_normalizer("nope")


def test_provenance_names_version_and_package():
    p = get_normalizer("whisper-english").provenance()
    assert p["name"] == "whisper-english" and p["version"] and p["openai-whisper"]
    assert get_normalizer("f5").provenance() == {"name": "f5", "version": "1"}
