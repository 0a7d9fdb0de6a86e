"""The text front end gives exactly the reference VoiceBpeTokenizer's ids."""
import pytest

from evalkit.tortoise import text

TRICKY_TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    # numbers, separators, decimals
    "I have 3 apples and 1,234,567 oranges; pi is 3.14159.",
    "0 1 10 11 100 101 999 1000 1001 3000 10000 123456789",
    "Call 555-1234 or 1-800-555-0199.",
    "The ratio was 3:2 and 50/50, at 98.6 degrees.",
    "Version 2.0.1 shipped on 12/25/2021.",
    # currency
    "It costs $5, $1.50, $0.99, $.50, $1,000,000 and $1.2.3.",
    "$0 and $0.00 and $1 and $0.01 and $2.01",
    "£100 and £1,250.75 and €20 and ¥300.",
    # ordinals and years
    "He came 1st, she 2nd, they 3rd and we 4th; the 21st and 102nd times.",
    "In 1066, 1492, 1800, 1905, 1999, 2000, 2001, 2009, 2010, 2019, 2999 and 3001.",
    # abbreviations (and near misses)
    "Mr. Smith, Mrs. Jones, Dr. Who and Drs. House & Wilson met St. Peter.",
    "Gen. Lee, Maj. Tom, Capt. Kirk, Sgt. Pepper, Lt. Dan, Col. Sanders, Rev. King, Hon. Member.",
    "Acme Co. Ltd. of Ft. Worth, John Smith Jr. Esq., MR. LOUD, mr.quiet",
    "Doctor vs dr without a dot, first vs st without a dot.",
    # symbols
    "Symbols: 100% & @home #hashtag *stars* _under_ ~tilde~ <tag> [bracket] {brace} |pipe| \\slash^",
    "Math: 2+2=4, 5-3=2, 6*7=42, 8/4=2, x^2, a<b>c.",
    "email me at someone@example.com or visit https://example.org/page?x=1&y=2",
    # unicode, accents, quotes, dashes
    "Café naïve résumé façade jalapeño Zürich São Paulo Ærøskøbing straße",
    "“Curly quotes,” ‘single quotes’, «guillemets» and \"straight quotes\".",
    "Dashes – en — em … ellipsis; ½ cup, 2² and 90° turns; ™ © ®",
    "Non-latin: 你好 世界, Привет мир, γειά σου, مرحبا, 🐢🚀 emoji!",
    # whitespace
    "   leading and   multiple\tspaces\nand newlines\r\n   trailing   ",
    "",
    "UPPER CASE SHOUTING AND MiXeD cAsE",
    "Don't stop; it's the dog's bone, isn't it? Yes! No?! (Maybe.)",
    # long text
    " ".join(["This is a fairly long sentence number", "42,"] * 12)
    + " and it ends on the 31st of December 1999 at $12.34.",
]


@pytest.fixture(scope="module")
def reference_tokenizer():
    pytest.importorskip("tortoise")
    from tortoise.utils.tokenizer import VoiceBpeTokenizer

    return VoiceBpeTokenizer()


@pytest.fixture(scope="module")
def tokenizer():
    return text.TextTokenizer()


@pytest.mark.parametrize("sample", TRICKY_TEXTS)
def test_cleaners_and_ids_match_reference(sample, tokenizer, reference_tokenizer):
    from tortoise.utils.tokenizer import english_cleaners

    assert text.english_cleaners(sample) == english_cleaners(sample)
    assert tokenizer.encode(sample) == reference_tokenizer.encode(sample)


def test_decode_matches_reference(tokenizer, reference_tokenizer):
    for sample in TRICKY_TEXTS:
        ids = reference_tokenizer.encode(sample)
        assert tokenizer.decode(ids) == reference_tokenizer.decode(ids)


def test_spelled_out_forms(tokenizer):
    # Fixed facts of the TorToiSe front end, independent of the oracle.
    assert text.english_cleaners("Dr. Smith paid $2.50 in 1999.") == (
        "doctor smith paid two dollars, fifty cents in nineteen ninety-nine."
    )
    assert text.english_cleaners("£5") == "psfive"  # unidecode turns "£" into "PS" first
    assert tokenizer.decode(tokenizer.encode("Hello there")) == "hello there"


def test_model_text_tokens_appends_one_stop(tokenizer):
    ids = text.model_text_tokens("Hi.", tokenizer)
    assert ids[:-1] == tokenizer.encode("Hi.")
    assert ids[-1] == text.STOP_TEXT_TOKEN == 0


def test_vendored_vocabulary_is_the_reference_file():
    tortoise = pytest.importorskip("tortoise")
    from pathlib import Path

    reference = Path(tortoise.__file__).parent / "data" / "tokenizer.json"
    assert text.DEFAULT_VOCAB.read_bytes() == reference.read_bytes()


def test_missing_vocabulary_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        text.TextTokenizer(tmp_path / "nowhere.json")
