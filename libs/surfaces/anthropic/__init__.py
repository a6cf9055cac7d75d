"""Anthropic's Messages API (`POST /api/v1/messages`) as a client-facing surface: the
client's request as veil's canonical chat request, and the canonical completion or
chunks back as a Message or its server-sent events. Pure functions over JSON.

- `request`: the request (`MessagesBody`, validated with the models of `models`) as the
  canonical chat request (`chat_request`);
- `reply`: the canonical completion as a Message (`message_response`), its chunks as the
  Messages API's events (`MessageStream`);
- `errors`: Anthropic's error bodies (`error_response`, `error_type`).
"""

from veil.surfaces.anthropic.errors import error_response, error_response_body, error_type
from veil.surfaces.anthropic.models import MessagesBody
from veil.surfaces.anthropic.reply import (
    MessageStream,
    anthropic_usage,
    message_response,
    sse,
    stop_reason,
    tool_input,
)
from veil.surfaces.anthropic.request import chat_request

__all__ = [
    "MessageStream",
    "MessagesBody",
    "anthropic_usage",
    "chat_request",
    "error_response",
    "error_response_body",
    "error_type",
    "message_response",
    "sse",
    "stop_reason",
    "tool_input",
]
