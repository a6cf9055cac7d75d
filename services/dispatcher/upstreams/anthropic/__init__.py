"""Anthropic's Messages API (catalog `api: anthropic`).

Canonical form inside veil is OpenAI's chat completion, so this adapter translates both
ways: `request` turns the OpenAI body into a Messages request, `response` a Message
into an OpenAI completion, `stream` Anthropic's events into OpenAI chunks; `wire`
holds the Messages API's own shapes as pydantic models.
"""

from veil.dispatcher.upstreams.anthropic.request import (
    ANSWER_TOOL,
    JSON_MODE_INSTRUCTION,
    build_request,
)
from veil.dispatcher.upstreams.anthropic.response import parse_response
from veil.dispatcher.upstreams.anthropic.stream import StreamTranslator

__all__ = [
    "ANSWER_TOOL",
    "JSON_MODE_INSTRUCTION",
    "StreamTranslator",
    "build_request",
    "parse_response",
]
