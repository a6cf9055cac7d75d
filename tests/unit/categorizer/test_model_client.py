"""What the categorizer sends a model, and which answers count as a category."""

import orjson
import pytest

from veil.categorizer.model_client import (
    CATEGORIZER_PRIVACY,
    SYSTEM_PROMPT,
    classification_body,
    parse_category,
)
from veil.schemas.categories import CATEGORIES, SAMPLE_MAX_CHARS
from veil.schemas.chat import ChatRequest


def test_the_request_is_the_fixed_prompt_and_the_sample_with_privacy_forced():
    body = orjson.loads(classification_body("acme/model", "Can my landlord keep my deposit?"))
    assert body["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "Can my landlord keep my deposit?"},
    ]
    assert body["provider"] == {"zdr": True, "data_collection": "deny"}
    assert body["temperature"] == 0
    assert body["max_tokens"] <= 16
    # Nothing else: no user, no metadata, no session, no identifier of any kind.
    assert set(body) == {"model", "messages", "max_tokens", "temperature", "provider"}
    request = ChatRequest.model_validate(body)
    assert request.provider is not None
    assert request.provider.zdr is True
    assert request.provider.data_collection == "deny"


def test_the_prompt_names_every_category():
    for category in CATEGORIES:
        assert category in SYSTEM_PROMPT


def test_the_sample_is_bounded():
    body = orjson.loads(classification_body("acme/model", "y" * (SAMPLE_MAX_CHARS * 3)))
    assert len(body["messages"][1]["content"]) == SAMPLE_MAX_CHARS


@pytest.mark.parametrize(
    ("answer", "category"),
    [
        ("legal", "legal"),
        (" Finance.\n", "finance"),
        ('"marketing/seo"', "marketing/seo"),
        ("**Science**", "science"),
        ("OTHER", "other"),
        ("The category is legal.", None),
        ("legal, finance", None),
        ("poetry", None),
        ("", None),
        ("marketing / seo", None),
    ],
)
def test_only_an_answer_that_is_exactly_a_category_counts(answer, category):
    assert parse_category(answer) == category


def test_the_categorizer_account_is_zero_retention_without_training_or_logging():
    assert CATEGORIZER_PRIVACY.enforce_zdr
    assert not CATEGORIZER_PRIVACY.enable_paid_model_training
    assert not CATEGORIZER_PRIVACY.enable_free_model_training
    assert not CATEGORIZER_PRIVACY.enable_prompt_logging
