"""The `hard` front-end stress suite: size, categories, long items, ids, default prompt."""
from __future__ import annotations

import re
from collections import Counter

import pytest
from suites_helpers import REPO_ROOT, write_audio

from evalkit.suites import load_suite

CATEGORIES = {  # tag -> id infix
    "numbers-dates": "num",
    "currency-units": "cur",
    "abbreviations": "abbr",
    "urls-email": "url",
    "long": "long",
    "tongue-twisters": "twist",
    "rare-foreign": "rare",
    "punctuation": "punct",
}


@pytest.fixture(scope="module")
def hard():
    return load_suite("hard")


def test_size_and_categories(hard):
    assert len(hard.items) >= 60 and hard.problems == {}
    assert all(len(item.tags) == 1 for item in hard.items)
    counts = Counter(item.tags[0] for item in hard.items)
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) >= 8
    assert len({item.text for item in hard.items}) == len(hard.items)


def test_long_items_have_forty_words_or_more(hard):
    long_items = [item for item in hard.items if item.tags == ("long",)]
    assert all(len(item.text.split()) >= 40 for item in long_items)
    assert all(len(item.text.split()) < 40 for item in hard.items if item.tags != ("long",))


def test_ids_name_their_category_and_count_from_one(hard):
    by_category: dict[str, list[int]] = {}
    for item in hard.items:
        match = re.fullmatch(r"hard-([a-z]+)-(\d\d)", item.id)
        assert match and match.group(1) == CATEGORIES[item.tags[0]], item.id
        by_category.setdefault(item.tags[0], []).append(int(match.group(2)))
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in by_category.values())
    assert load_suite("hard").content_hash == hard.content_hash


def test_items_use_the_smoke_prompt_and_have_no_ground_truth(hard):
    prompt = (REPO_ROOT / "suites" / "smoke" / "audio" / "prompt-m3.flac").resolve()
    assert all(item.prompt_audio == prompt for item in hard.items)
    assert all(item.prompt_text == "I have been reading the morning paper on the porch." for item in hard.items)
    assert all(item.reference_audio is None and item.reference_text is None for item in hard.items)


def test_voice_overrides_the_default_prompt(hard, tmp_path):
    voice = write_audio(tmp_path / "me.wav", 0.2)
    suite = load_suite("hard", voice=voice, voice_text="Hello there.")
    assert {item.prompt_audio for item in suite.items} == {voice.resolve()}
    assert suite.content_hash != hard.content_hash
