"""A chat request's body at the edge: read within its limits, parsed and validated once.

The services behind the gateway read only the routing summary made from it and pass the
bytes on as the client wrote them."""

from fastapi import Request
from pydantic import ValidationError

from veil.gateway.errors import json_object, validation_message
from veil.gateway.scope import BODY_LATE, READS_OWN_BODY
from veil.schemas.chat import ChatRequest
from veil.schemas.errors import VeilError

# The deepest JSON nesting accepted: far beyond any real request (a tool's JSON schema
# included), and well inside what every service's parser and serializer handle, so
# nothing the gateway accepts can be refused further in.
MAX_JSON_DEPTH = 64


async def read_body(request: Request, limit: int) -> bytes:
    """The body, up to `limit` bytes (413 above), by the server's body deadline (408
    after it: a client that declares more than it sends must not hold its connection).
    The server keeps the deadline (`veil.gateway.server`): no timer per request here."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise VeilError(413, f"Request body is larger than {limit} bytes")
    request.scope[READS_OWN_BODY] = True
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise VeilError(413, f"Request body is larger than {limit} bytes")
    late = request.scope.get(BODY_LATE)
    if late is not None:
        raise VeilError(
            408, f"Request body not received within {late:g} s", {"received_bytes": len(body)}
        )
    return bytes(body)


def _depth_exceeds(value: object, limit: int) -> bool:
    if limit < 0:
        return True
    if isinstance(value, dict):
        return any(_depth_exceeds(v, limit - 1) for v in value.values())
    if isinstance(value, list):
        return any(_depth_exceeds(v, limit - 1) for v in value)
    return False


def check_depth(raw: bytes, data: object) -> None:
    # Fewer brackets in the whole body than the limit: it cannot nest deeper (bytes.count
    # is C-fast, so ordinary requests never walk their tree).
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _depth_exceeds(data, MAX_JSON_DEPTH):
        raise VeilError(400, f"Request body nests JSON deeper than {MAX_JSON_DEPTH} levels")


def parse_chat_request(raw: bytes) -> ChatRequest:
    data = json_object(raw)
    check_depth(raw, data)
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        raise VeilError(400, f"Invalid request: {validation_message(exc)}") from exc
