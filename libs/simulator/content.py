"""Deterministic token counting and reply generation shared by both wire formats.

A "token" here is a whitespace-separated word: cheap to compute and easy for
tests to predict.
"""

from __future__ import annotations

import re
from typing import Any

from veil.simulator.scenarios import Scenario

_PIECE = re.compile(r"\S+\s*")


def _words_in(content: Any) -> int:
    """Words in a message's content: a string or a list of text-bearing blocks."""
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        total = 0
        for block in content:
            if isinstance(block, str):
                total += len(block.split())
            elif isinstance(block, dict):
                text = block.get("text")
                if isinstance(text, str):
                    total += len(text.split())
                # Anthropic tool_result blocks nest their own content.
                nested = block.get("content")
                if nested is not None:
                    total += _words_in(nested)
        return total
    return 0


def prompt_tokens(messages: Any, system: Any = None) -> int:
    """Words across all message text (and ``system``) plus one per message."""
    total = _words_in(system) if system is not None else 0
    if isinstance(messages, list):
        for message in messages:
            total += 1
            if isinstance(message, dict):
                total += _words_in(message.get("content"))
    return total


def token_cap(body: dict[str, Any], *keys: str) -> int | None:
    """The first integer limit found under ``keys`` in the request body."""
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def reply_pieces(scenario: Scenario, provider: str, cap: int | None) -> tuple[list[str], bool]:
    """The reply split into one piece per word, and whether ``cap`` cut it short.

    Pieces keep their trailing whitespace (except the last generated word), so
    joining them gives exactly the non-streaming text and streaming them one
    chunk per piece reassembles the same string.
    """
    if scenario.reply_text is not None and scenario.chunk_chars is not None:
        text, size = scenario.reply_text, scenario.chunk_chars
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
    elif scenario.reply_text is not None:
        text = scenario.reply_text
        pieces = _PIECE.findall(text)
        if pieces:
            # Leading whitespace would otherwise be lost by the pattern.
            pieces[0] = text[: len(text) - len(text.lstrip())] + pieces[0]
        elif text:
            pieces = [text]
    else:
        words = ["Simulated", "reply", "from", f"{provider}:"]
        count = scenario.completion_tokens
        words.extend(f"w{i}" for i in range(1, count - len(words) + 1))
        words = words[:count]
        pieces = [w + " " for w in words]
        if pieces:
            pieces[-1] = words[-1]
    if cap is not None and 0 <= cap < len(pieces):
        pieces = pieces[:cap]
        if pieces:
            pieces[-1] = pieces[-1].rstrip()
        return pieces, True
    return pieces, False


def split_in_two(text: str) -> list[str]:
    """Split a string into two non-empty halves so clients must reassemble it."""
    if len(text) < 2:
        return [text]
    middle = len(text) // 2
    return [text[:middle], text[middle:]]
