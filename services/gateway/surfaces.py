"""The API surfaces a generation can come in by, and how each speaks to its client.

Every surface's request becomes the one canonical chat request (OpenAI's shape) that
routing, the dispatcher and the providers' adapters read, so a Messages or Responses
request is routed, filtered, recorded and relayed exactly as a chat completion is; only
the edges differ. Here, at the edge: a surface parses its request into the canonical
body and routing summary, and writes the canonical completion, chunks and errors back
in its own wire format (JSON, and the events of its stream).

Embeddings are the one surface that is not chat: the body passes on as the client sent
it and the dispatcher calls the provider's embeddings API.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from fastapi.responses import Response
from pydantic import ValidationError

from veil.gateway.body import check_depth, parse_chat_request
from veil.gateway.errors import error_response, json_object, validation_message
from veil.gateway.replies import StreamEncoder
from veil.schemas.catalog import Provider
from veil.schemas.chat import ApiType, ChatRequest, RoutingSummary
from veil.schemas.chunks import error_chunk, sse_event
from veil.schemas.embeddings import EmbeddingsRequest
from veil.schemas.errors import ErrorBody, VeilError
from veil.surfaces import anthropic, responses


@dataclass(frozen=True)
class Parsed:
    """A request as routing reads it, and the canonical body that is routed."""

    routing: RoutingSummary
    body: bytes
    stream: bool
    wants_storage: bool = False  # a Responses request with store: true
    echo: dict[str, Any] | None = None  # what a surface's answer repeats of the request


DONE = b"data: [DONE]\n\n"


class Surface(Protocol):
    api_type: ApiType

    def parse(self, raw: bytes) -> Parsed: ...

    def error(self, error: ErrorBody, headers: dict[str, str]) -> Response: ...

    def final(self, completion: bytes, parsed: Parsed) -> bytes: ...

    def stream(
        self, generation_id: str, model: str, provider: Provider | None, parsed: Parsed
    ) -> StreamEncoder: ...


def _canonical(data: dict[str, Any]) -> ChatRequest:
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        raise VeilError(400, f"Invalid request: {validation_message(exc)}") from exc


def _body(raw: bytes) -> dict[str, Any]:
    data = json_object(raw)
    check_depth(raw, data)
    return data


# --- chat completions: the canonical form itself ----------------------------------------


class ChatChunks:
    """Chunks as the dispatcher wrote them, error chunks, and [DONE]."""

    def __init__(self, generation_id: str, model: str, provider: Provider | None):
        self.generation_id, self.model = generation_id, model
        self.provider_name = provider.name if provider else ""

    def chunk(self, data: bytes) -> bytes:
        return b"".join((b"data: ", data, b"\n\n"))

    def failed(self, error: ErrorBody) -> bytes:
        return sse_event(error_chunk(self.generation_id, self.model, self.provider_name, error))

    def end(self) -> bytes:
        return DONE


class Completions:
    api_type: ApiType = "completions"

    def parse(self, raw: bytes) -> Parsed:
        chat = parse_chat_request(raw)
        # Validated once, here: the services behind read the routing summary and pass the
        # body on as the client sent it, so their cost does not grow with the prompt.
        return Parsed(chat.routing_summary(), raw, chat.stream)

    def error(self, error: ErrorBody, headers: dict[str, str]) -> Response:
        return error_response(error, headers)

    def final(self, completion: bytes, parsed: Parsed) -> bytes:
        return completion  # as the dispatcher wrote it

    def stream(
        self, generation_id: str, model: str, provider: Provider | None, parsed: Parsed
    ) -> StreamEncoder:
        return ChatChunks(generation_id, model, provider)


# --- embeddings ---------------------------------------------------------------------------


class Embeddings(Completions):
    api_type: ApiType = "embeddings"

    def parse(self, raw: bytes) -> Parsed:
        data = _body(raw)
        try:
            request = EmbeddingsRequest.model_validate(data)
        except ValidationError as exc:
            raise VeilError(400, f"Invalid request: {validation_message(exc)}") from exc
        return Parsed(request.routing_summary(), raw, stream=False)


# --- Anthropic's Messages API ---------------------------------------------------------------


class MessageEvents:
    def __init__(self, generation_id: str, model: str, stop_sequences: list[str] | None):
        self.events = anthropic.MessageStream(generation_id, model, stop_sequences)

    def chunk(self, data: bytes) -> bytes:
        return self.events.feed(orjson.loads(data))

    def failed(self, error: ErrorBody) -> bytes:
        return self.events.error(error.message, anthropic.error_type(error.code))

    def end(self) -> bytes:
        return self.events.close()


class Messages:
    api_type: ApiType = "messages"

    def parse(self, raw: bytes) -> Parsed:
        data = _body(raw)
        canonical = anthropic.chat_request(data)
        chat = _canonical(canonical)
        stops = data.get("stop_sequences")
        echo = {"stop_sequences": stops} if isinstance(stops, list) else None
        return Parsed(
            chat.routing_summary("messages"), orjson.dumps(canonical), chat.stream, echo=echo
        )

    def error(self, error: ErrorBody, headers: dict[str, str]) -> Response:
        body = anthropic.error_response(error.code, error.message)
        if error.metadata:
            body["error"]["metadata"] = error.metadata  # veil's detail, as on every surface
        return error_response(error, headers, body)

    def final(self, completion: bytes, parsed: Parsed) -> bytes:
        stops = (parsed.echo or {}).get("stop_sequences")
        return orjson.dumps(anthropic.message_response(orjson.loads(completion), stops))

    def stream(
        self, generation_id: str, model: str, provider: Provider | None, parsed: Parsed
    ) -> StreamEncoder:
        return MessageEvents(generation_id, model, (parsed.echo or {}).get("stop_sequences"))


# --- OpenAI's Responses API (its stateless subset) -------------------------------------------


class ResponseEvents:
    def __init__(self, generation_id: str, model: str, echo: dict[str, Any]):
        self.events = responses.ResponseStream(generation_id, model, echo)

    def chunk(self, data: bytes) -> bytes:
        return self.events.feed(orjson.loads(data))

    def failed(self, error: ErrorBody) -> bytes:
        return self.events.start() + self.events.error(
            error.message, responses.failure_code(error.code)
        )

    def end(self) -> bytes:
        return self.events.start() + self.events.close()


class Responses(Completions):
    api_type: ApiType = "responses"

    def parse(self, raw: bytes) -> Parsed:
        data = _body(raw)
        canonical = responses.chat_request(data)
        chat = _canonical(canonical)
        return Parsed(
            chat.routing_summary("responses"),
            orjson.dumps(canonical),
            chat.stream,
            wants_storage=responses.wants_storage(data),
            echo=responses.echo_fields(data),
        )

    def final(self, completion: bytes, parsed: Parsed) -> bytes:
        return orjson.dumps(responses.response_object(orjson.loads(completion), parsed.echo or {}))

    def stream(
        self, generation_id: str, model: str, provider: Provider | None, parsed: Parsed
    ) -> StreamEncoder:
        return ResponseEvents(generation_id, model, parsed.echo or {})


COMPLETIONS, EMBEDDINGS, MESSAGES, RESPONSES = Completions(), Embeddings(), Messages(), Responses()
