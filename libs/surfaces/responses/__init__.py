"""OpenAI's Responses API (`POST /responses`), the stateless subset, as conversions to and
from veil's canonical form: the client's request becomes a chat-completions request
(`chat_request`), and the canonical `chat.completion` or its chunks become a `Response`
object (`response_object`) or the Responses API's server-sent events (`ResponseStream`).

- `request`: the request (`ResponsesRequest`, with the models of `models`) as a
  chat-completions request (`chat_request`), and whether it asks to be stored
  (`wants_storage`);
- `reply`: a `chat.completion` as a Response object (`response_object`), with what it
  repeats of its request (`echo_fields`) and the error codes (`failure_code`);
- `stream`: chunks as the Responses API's events (`ResponseStream`).

Pure functions over JSON; no I/O.
"""

from veil.surfaces.responses.models import ResponsesRequest
from veil.surfaces.responses.reply import (
    echo_fields,
    failure_code,
    response_object,
    response_usage,
)
from veil.surfaces.responses.request import chat_request, wants_storage
from veil.surfaces.responses.stream import ResponseStream

__all__ = [
    "ResponseStream",
    "ResponsesRequest",
    "chat_request",
    "echo_fields",
    "failure_code",
    "response_object",
    "response_usage",
    "wants_storage",
]
