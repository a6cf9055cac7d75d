"""What every upstream API style shares: the adapter interface, the target, sending the
request, the errors, reading the answer."""

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aiohttp
import orjson

from veil.schemas.catalog import Endpoint
from veil.schemas.chunks import Chunk


@dataclass(frozen=True)
class UpstreamTarget:
    """Where and how to reach one provider."""

    base_url: str
    api_key: str
    auth_header: str = "authorization"
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)

    def auth_headers(self) -> dict[str, str]:
        if self.auth_header == "authorization":
            return {"authorization": f"Bearer {self.api_key}", **self.headers}
        return {self.auth_header: self.api_key, **self.headers}


@dataclass(frozen=True)
class WireRequest:
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)


class StreamTranslator(Protocol):
    """An upstream's stream as OpenAI chunks; one per response."""

    finished: bool  # the upstream ended its stream properly (not cut off)

    def feed(self, event: str | None, data: bytes) -> list[Chunk]:
        """The chunks for one server-sent event (`event` is its name, if it has one)."""
        ...


@runtime_checkable
class Adapter(Protocol):
    """One upstream API style: what each adapter module (`openai`, `anthropic`) provides.
    Pure transforms between veil's canonical (OpenAI) form and the wire; sending is
    `send`, shared."""

    def build_request(
        self, body: dict[str, Any], endpoint: Endpoint, target: UpstreamTarget, stream: bool
    ) -> WireRequest:
        """The client's body (OpenAI's shape) as this API's request to `endpoint`."""
        ...

    def parse_response(self, data: Any) -> dict[str, Any]:
        """A non-streaming answer (parsed JSON) as an OpenAI chat.completion."""
        ...

    def StreamTranslator(self) -> StreamTranslator:
        """A new translator for one streamed response."""
        ...


# Always forwarded: the conversation itself and the stream switches veil sets.
STRUCTURAL_FIELDS = frozenset({"messages", "stream", "stream_options", "tools", "tool_choice"})


def select_parameters(body: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """Drop parameters the endpoint does not support, rather than forward them."""
    supported = set(endpoint.supported_parameters)
    return {k: v for k, v in body.items() if k in STRUCTURAL_FIELDS or k in supported}


class UpstreamError(Exception):
    """An attempt failed. `retryable` says whether the next endpoint should be tried.

    `kind` is what gets recorded for the attempt: a category, never the upstream's
    message, which may quote the prompt (docs/privacy.md, invariant 6).
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retryable: bool = True,
        kind: str = "upstream_error",
        retry_after: float | None = None,
        raw: Any = None,
    ):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.kind = kind
        self.retry_after = retry_after
        # The upstream's error body, for the client alone (OpenRouter's `metadata.raw`):
        # it may quote the prompt, so it is never recorded or logged.
        self.raw = raw


class UpstreamMalformed(UpstreamError):
    def __init__(self, message: str):
        super().__init__(f"malformed upstream response: {message}", kind="malformed")


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for APIs and ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


# Statuses caused by the request itself: answered to the client, never retried around.
CLIENT_FAULT_STATUSES = frozenset({400, 413, 422})


RAW_ERROR_LIMIT = 4096  # characters of an upstream error body passed on to the client


def error_from_status(status: int, body: bytes, retry_after: str | None = None) -> UpstreamError:
    message = f"upstream answered {status}"
    raw: Any = body[:RAW_ERROR_LIMIT].decode(errors="replace") or None
    try:
        detail = orjson.loads(body)
        inner = detail.get("error", detail) if isinstance(detail, dict) else detail
        text = inner.get("message") if isinstance(inner, dict) else None
        if text:
            message += f": {text}"
        if len(body) <= RAW_ERROR_LIMIT:
            raw = detail
    except orjson.JSONDecodeError:
        pass
    return UpstreamError(
        message,
        status=status,
        retryable=status not in CLIENT_FAULT_STATUSES,
        kind="rate_limited" if status == 429 else "http_error",
        retry_after=retry_after_seconds(retry_after),
        raw=raw,
    )


def send(
    http: aiohttp.ClientSession, wire: WireRequest, timeouts: aiohttp.ClientTimeout
) -> "Sending":
    """POST the request: `async with send(...) as response` gives the response once its
    status says it succeeded (an error status raises UpstreamError). aiohttp, not httpx:
    see `veil.dispatcher.app`.

    Leaving the block releases the connection to the pool, or closes it when the body
    was not read to its end (a failure, a cancellation): the upstream sees the client
    leave.
    """
    return Sending(
        http.post(
            wire.url,
            data=orjson.dumps(wire.body),
            params=wire.params or None,
            headers={**wire.headers, "content-type": "application/json"},
            timeout=timeouts,
            allow_redirects=False,
        )
    )


class Sending:
    """`send`'s context manager. A small class rather than `asynccontextmanager`, whose
    generator costs more on every request (`python -m benchmarks.cpu`)."""

    __slots__ = ("_request",)

    def __init__(self, request: AbstractAsyncContextManager[aiohttp.ClientResponse]):
        self._request = request

    async def __aenter__(self) -> aiohttp.ClientResponse:
        response = await self._request.__aenter__()
        if response.status < 400:
            return response
        try:
            body = await response.read()
        finally:
            await self._request.__aexit__(None, None, None)
        raise error_from_status(response.status, body, response.headers.get("retry-after"))

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._request.__aexit__(*exc_info)


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamMalformed(str(exc)) from exc


async def sse_events(body: AsyncIterable[bytes]) -> AsyncIterator[tuple[str | None, bytes]]:
    """Yield (event name, data) from a server-sent-events body, as the bytes arrive.

    `body` is the raw body in whatever pieces the socket delivered. Lines stay bytes
    (the data is JSON, which orjson reads from bytes): nothing is decoded and encoded
    again per line, and a line may be any length.
    """
    event: str | None = None
    data: list[bytes] = []
    pending: list[bytes] = []  # the start of a line that has not ended yet
    async for piece in body:
        if b"\n" not in piece:
            pending.append(piece)
            continue
        if pending:
            pending.append(piece)
            piece = b"".join(pending)
        lines = piece.split(b"\n")
        last = lines.pop()
        pending = [last] if last else []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    yield event, b"\n".join(data)
                event, data = None, []
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip())
            elif line.startswith(b"event:"):
                event = line[6:].strip().decode(errors="replace")
            # comment lines (":") and unknown fields are ignored, as the SSE spec says
    last = b"".join(pending).rstrip(b"\r")
    if last.startswith(b"data:"):
        data.append(last[5:].lstrip())
    if data:
        yield event, b"\n".join(data)
