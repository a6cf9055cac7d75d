"""Tokens and cost of a generation, priced with the endpoint's catalog pricing."""

from dataclasses import dataclass
from typing import Any

from veil.schemas.catalog import Pricing
from veil.schemas.chat import content_texts
from veil.schemas.embeddings import input_texts

CHARS_PER_TOKEN = 4  # the usual rough estimate when an upstream reports no usage


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False
    cached_tokens: int | None = None  # of the prompt, when the upstream reports them
    reasoning_tokens: int | None = None  # of the completion, when the upstream reports them


def _detail(details: Any, name: str) -> int | None:
    value = details.get(name) if isinstance(details, dict) else None
    return value if isinstance(value, int) else None


def usage_from(upstream_usage: Any) -> Usage | None:
    if not isinstance(upstream_usage, dict):
        return None
    prompt = upstream_usage.get("prompt_tokens")
    completion = upstream_usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(
        prompt,
        completion,
        cached_tokens=_detail(upstream_usage.get("prompt_tokens_details"), "cached_tokens"),
        reasoning_tokens=_detail(
            upstream_usage.get("completion_tokens_details"), "reasoning_tokens"
        ),
    )


def estimate_tokens(text_length: int) -> int:
    return max(1, -(-text_length // CHARS_PER_TOKEN)) if text_length else 0


def prompt_length(body: dict[str, Any]) -> int:
    """Characters of text in the request's messages (or an embeddings request's texts),
    for estimating prompt tokens."""
    inputs = input_texts(body) if "input" in body else None
    return sum(len(text) for text in inputs or ()) + sum(
        len(text)
        for message in body.get("messages", [])
        for text in content_texts(message.get("content"))
    )


def cost_parts(usage: Usage, pricing: Pricing) -> tuple[float, float]:
    """USD for the prompt and for the completion, from exact decimal prices, rounded to
    the micro-cent for the float fields."""
    return (
        round(float(usage.prompt_tokens * pricing.prompt), 10),
        round(float(usage.completion_tokens * pricing.completion), 10),
    )


def cost_of(usage: Usage, pricing: Pricing) -> float:
    total = usage.prompt_tokens * pricing.prompt + usage.completion_tokens * pricing.completion
    return round(float(total), 10)


def usage_body(usage: Usage, pricing: Pricing) -> dict[str, Any]:
    """OpenRouter's `usage` object: counts, cost in USD and its split. Token details are
    null unless the upstream reported them; veil has no bring-your-own-key billing."""
    prompt_cost, completion_cost = cost_parts(usage, pricing)
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "cost": cost_of(usage, pricing),
        "is_byok": False,
        "prompt_tokens_details": (
            None if usage.cached_tokens is None else {"cached_tokens": usage.cached_tokens}
        ),
        "completion_tokens_details": (
            None if usage.reasoning_tokens is None else {"reasoning_tokens": usage.reasoning_tokens}
        ),
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": prompt_cost,
            "upstream_inference_completions_cost": completion_cost,
        },
    }
    if usage.estimated:
        body["estimated"] = True
    return body
