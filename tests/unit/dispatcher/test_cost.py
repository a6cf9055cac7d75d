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


def test_usage_body_reports_counts_total_cost_and_its_split_as_openrouter_does():
    pricing = Pricing(prompt=Decimal("0.0000002"), completion=Decimal("0.0000006"))
    body = usage_body(Usage(1000, 500), pricing)
    assert body == {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "total_tokens": 1500,
        "cost": 0.0005,
        "is_byok": False,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": 0.0002,
            "upstream_inference_completions_cost": 0.0003,
        },
    }


def test_usage_body_passes_on_token_details_the_upstream_reported():
    pricing = Pricing(prompt=Decimal("0"), completion=Decimal("0"))
    usage = usage_from(
        {
            "prompt_tokens": 100,
            "completion_tokens": 40,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 30},
        }
    )
    assert usage == Usage(100, 40, cached_tokens=64, reasoning_tokens=30)
    body = usage_body(usage, pricing)
    assert body["prompt_tokens_details"] == {"cached_tokens": 64}
    assert body["completion_tokens_details"] == {"reasoning_tokens": 30}


def test_usage_body_flags_estimated_usage():
    pricing = Pricing(prompt=Decimal("0.01"), completion=Decimal("0.01"))
    body = usage_body(Usage(10, 20, estimated=True), pricing)
    assert body["estimated"] is True
    assert body["total_tokens"] == 30
