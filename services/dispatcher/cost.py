"""Tokens and cost of a generation, priced with the endpoint's catalog pricing."""

from dataclasses import dataclass
from typing import Any

from veil.schemas.catalog import Pricing

CHARS_PER_TOKEN = 4  # the usual rough estimate when an upstream reports no usage


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False


def usage_from(upstream_usage: Any) -> Usage | None:
    if not isinstance(upstream_usage, dict):
        return None
    prompt = upstream_usage.get("prompt_tokens")
    completion = upstream_usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt, completion)


def estimate_tokens(text_length: int) -> int:
    return max(1, -(-text_length // CHARS_PER_TOKEN)) if text_length else 0


def prompt_length(body: dict[str, Any]) -> int:
    """Characters of text in the request's messages, for estimating prompt tokens."""
    total = 0
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(b.get("text", "")) for b in content if isinstance(b, dict))
    return total


def cost_of(usage: Usage, pricing: Pricing) -> float:
    """USD, from exact decimal prices; rounded to the micro-cent for the float fields."""
    total = usage.prompt_tokens * pricing.prompt + usage.completion_tokens * pricing.completion
    return round(float(total), 10)


def usage_body(usage: Usage, cost: float) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "cost": cost,
    }
    if usage.estimated:
        body["estimated"] = True
    return body
