"""Prompt categories for the public rankings, decided locally by keyword."""

import pytest

from veil.categorizer.classify import OTHER, categorize


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Write a Python function that parses this JSON and fix the bug", "programming"),
        ("Why does my TypeScript code fail to compile?", "programming"),
        ("Translate this paragraph into English, please.", "translation"),
        ("Come up with a slogan for our marketing campaign", "marketing"),
        ("Pretend you are a pirate and tell me a story", "roleplay"),
        ("Explain quantum physics to a ten year old", "science"),
        ("What could this symptom mean? Should I see a doctor?", "health"),
        ("Review this contract clause before we go to court", "legal"),
        ("How should I invest to lower my tax bill?", "finance"),
        ("Help me structure my thesis and the citation style", "academia"),
        ("What is the capital of Mongolia?", "trivia"),
    ],
)
def test_clear_prompts_get_their_category(text, category):
    assert categorize(text) == category


@pytest.mark.parametrize("text", ["", "hello there", "good morning, how are you?", "12345"])
def test_text_without_any_keyword_is_other(text):
    assert categorize(text) == OTHER


def test_matching_is_case_insensitive():
    assert categorize("TRANSLATE THIS") == "translation"


def test_keywords_match_whole_words_only():
    # "classic", "apiary" and "lawn" contain the keywords class, api and law.
    assert categorize("a classic apiary on the lawn") == OTHER


def test_the_category_with_most_keywords_wins():
    text = "translate this python code into rust; the regex throws an error"
    assert categorize(text) == "programming"
