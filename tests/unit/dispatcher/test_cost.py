"""Tokens and cost reported to the client and recorded in the generation stats."""

from decimal import Decimal

import pytest

from veil.dispatcher.cost import (
    Usage,
    cost_of,
    estimate_tokens,
    prompt_length,
    usage_body,
    usage_from,
)
from veil.schemas.catalog import Pricing


def test_usage_from_reads_the_upstream_counts():
    usage = usage_from({"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46})
    assert usage == Usage(12, 34)
    assert usage.estimated is False


@pytest.mark.parametrize(
    "upstream_usage",
    [
        None,
        "12 tokens",
        [],
        {},
        {"prompt_tokens": 12},
        {"completion_tokens": 34},
        {"prompt_tokens": "12", "completion_tokens": 34},
        {"prompt_tokens": 12, "completion_tokens": None},
        {"prompt_tokens": 12.5, "completion_tokens": 3},
    ],
)
def test_usage_from_returns_none_for_missing_or_malformed_usage(upstream_usage):
    assert usage_from(upstream_usage) is None


@pytest.mark.parametrize(
    ("chars", "tokens"),
    [(0, 0), (1, 1), (3, 1), (4, 1), (5, 2), (8, 2), (9, 3), (4000, 1000), (4001, 1001)],
)
def test_estimate_tokens_is_four_characters_per_token_rounded_up(chars, tokens):
    assert estimate_tokens(chars) == tokens


def test_prompt_length_counts_string_contents():
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"},
        ]
    }
    assert prompt_length(body) == len("Be brief.") + len("hello")


def test_prompt_length_counts_text_of_content_blocks_only():
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {"type": "text", "text": " this"},
                    "not a block",
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": []},
            {"role": "user", "content": "ok"},
        ]
    }
    assert prompt_length(body) == len("describe") + len(" this") + len("ok")


def test_prompt_length_of_a_body_without_messages_is_zero():
    assert prompt_length({}) == 0


def test_cost_uses_exact_decimal_prices():
    pricing = Pricing(prompt=Decimal("0.00000018"), completion=Decimal("0.0000006"))
    assert cost_of(Usage(1000, 500), pricing) == 0.00048


def test_cost_is_exact_where_float_arithmetic_is_not():
    # 3 * 0.1 is 0.30000000000000004 in binary floating point.
    pricing = Pricing(prompt=Decimal("0.1"), completion=Decimal("0"))
    assert cost_of(Usage(3, 0), pricing) == 0.3


def test_cost_of_a_free_model_is_zero():
    pricing = Pricing(prompt=Decimal("0"), completion=Decimal("0"))
    assert cost_of(Usage(123456, 7890), pricing) == 0.0


def test_cost_is_rounded_to_ten_decimal_places():
    pricing = Pricing(prompt=Decimal("0.00000000001"), completion=Decimal("0"))
    assert cost_of(Usage(4, 0), pricing) == 0.0
    assert cost_of(Usage(7, 0), pricing) == 0.0000000001


def test_usage_body_reports_counts_total_and_cost():
    body = usage_body(Usage(1000, 500), 0.00048)
    assert body == {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "total_tokens": 1500,
        "cost": 0.00048,
    }


def test_usage_body_flags_estimated_usage():
    body = usage_body(Usage(10, 20, estimated=True), 0.5)
    assert body["estimated"] is True
    assert body["total_tokens"] == 30
