"""The labelled corpus the local classifier is trained and measured on."""

import re
from collections import Counter

from veil.categorizer import corpus
from veil.schemas.categories import CATEGORIES

# Letters beyond ASCII other than punctuation, symbols and emoji an English prompt may hold.
NOT_ENGLISH = "[^\x00-\x7f\u2013\u2014\u2019\u201c\u201d\u2026\u00b0\u20ac\u00a3\U0001f31e]"


def test_every_category_has_at_least_a_hundred_prompts_and_a_held_out_share():
    every = Counter(e.category for e in corpus.load("all"))
    heldout = Counter(e.category for e in corpus.load("heldout"))
    assert set(every) == set(CATEGORIES)
    for category in CATEGORIES:
        assert every[category] >= 100, category
        assert heldout[category] >= 15, category  # enough to measure each category on


def test_training_never_sees_a_held_out_prompt():
    train = {e.text for e in corpus.load("train")}
    heldout = {e.text for e in corpus.load("heldout")}
    assert train
    assert heldout
    assert not train & heldout
    assert len(train) + len(heldout) == len(corpus.load("all"))
    assert 0.15 < len(heldout) / (len(train) + len(heldout)) < 0.25


def test_no_prompt_is_written_twice():
    texts = [re.sub(r"\W+", " ", e.text.lower()).strip() for e in corpus.load("all")]
    repeated = [t for t, n in Counter(texts).items() if n > 1]
    assert repeated == []


def test_prompts_vary_in_length_and_language():
    for category in CATEGORIES:
        texts = [e.text for e in corpus.load("all") if e.category == category]
        words = sorted(len(t.split()) for t in texts)
        assert words[0] <= 8, category  # short ones
        assert words[-1] >= 20, category  # and long ones
        # Not English: accented letters and other scripts (some German or Dutch prompts
        # have neither, so this undercounts them).
        foreign = [t for t in texts if re.search(NOT_ENGLISH, t)]
        assert len(foreign) >= 8, category


def test_the_corpus_fingerprint_changes_with_any_prompt(tmp_path):
    for category in CATEGORIES:
        source = corpus.file_of(category)
        (tmp_path / source.name).write_bytes(source.read_bytes())
    assert corpus.fingerprint(tmp_path) == corpus.fingerprint()
    edited = tmp_path / "legal.txt"
    edited.write_text(edited.read_text() + "Is a handshake deal binding?\n")
    assert corpus.fingerprint(tmp_path) != corpus.fingerprint()
    assert "Is a handshake deal binding?" in {e.text for e in corpus.load("all", tmp_path)}
