"""POST /chat/completions: validate once at the edge, publish, relay what comes back."""

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from veil.bus import publish_framed
from veil.gateway.errors import error_response, json_object, validation_message
from veil.gateway.inbox import Reply
from veil.gateway.server import BODY_LATE, CONNECTION_CLOSED, READS_OWN_BODY
from veil.gateway.state import GatewayState
from veil.schemas import subjects
from veil.schemas.chat import ChatRequest, split_routing_suffix
from veil.schemas.chunks import error_chunk, sse_event
from veil.schemas.errors import ErrorBody, VeilError
from veil.schemas.messages import (
    CancelGeneration,
    GenerationVerdict,
    ReplyHeader,
    RequestEnvelope,
)

router = APIRouter()
KEEPALIVE = b": veil processing\n\n"
DONE = b"data: [DONE]\n\n"


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


def new_generation_id() -> str:
    """OpenRouter's form, gen-<unix seconds>-<random>: sortable by time, unguessable."""
    return f"gen-{int(time.time())}-{secrets.token_hex(10)}"


# The deepest JSON nesting accepted: far beyond any real request (a tool's JSON schema
# included), and well inside what every service's parser and serializer handle, so
# nothing the gateway accepts can be refused further in.
MAX_JSON_DEPTH = 64


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


def response_headers(
    state: GatewayState, generation_id: str, provider_slug: str, logged: bool
) -> dict:
    """The privacy receipt: who served the call, what that provider does with data, and
    whether veil kept the content (only for accounts that opted in to prompt logging)."""
    provider = state.index.providers.get(provider_slug)
    headers = {
        "X-Generation-Id": generation_id,
        "X-Veil-Provider": provider_slug,
        "X-Veil-Logged": "true" if logged else "false",
    }
    if provider is not None:
        policy = provider.data_policy
        headers["X-Veil-Data-Policy"] = (
            f"training={_flag(policy.training)}; retains_prompts={_flag(policy.retains_prompts)}; "
            f"retention_days={_flag(policy.retention_days)}"
        )
    return headers


def _flag(value: bool | int | None) -> str:
    if value is None:
        return "unknown"
    return str(value).lower()


LOST_MESSAGE = (
    "veil lost this request after one of its services took it; the upstream provider may "
    "have received it: check GET /api/v1/generation with this X-Generation-Id before retrying"
)


class Lost(VeilError):
    """The gateway stopped hearing from the service that took the request."""

    def __init__(self) -> None:
        super().__init__(502, LOST_MESSAGE, {"upstream_may_have_received": True})


def _verdict(
    envelope: RequestEnvelope, code: int, model: str = "", provider: str | None = None
) -> GenerationVerdict:
    """What this gateway told the client, for the generation's record."""
    request = envelope.routing
    return GenerationVerdict(
        generation_id=envelope.generation_id,
        account_id=envelope.account_id,
        key_id=envelope.key_id,
        created_at=envelope.received_at,
        model=model or split_routing_suffix(request.candidate_models[0])[0],
        provider=provider or None,
        error_code=code,
        streamed=request.stream,
        decided_at=time.time(),
    )


async def _next(queue: asyncio.Queue[Reply], idle: float) -> Reply:
    # asyncio.timeout, not wait_for: wait_for runs the get in a task of its own, even when
    # a reply is already waiting in the queue.
    try:
        async with asyncio.timeout(idle):
            return await queue.get()
    except TimeoutError:
        raise Lost() from None


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    # Every answer names its generation, errors included, so a client can always ask
    # GET /generation what happened before it retries.
    generation_id = new_generation_id()
    try:
        return await _chat_completions(request, generation_id)
    except VeilError as exc:
        return error_response(exc.body, {"X-Generation-Id": generation_id})


async def _chat_completions(request: Request, generation_id: str) -> Response:
    # The hottest route resolves its caller inline: FastAPI's dependency solving measured
    # about an eighth of the gateway's time under load.
    state: GatewayState = request.app.state.veil
    who = state.auth.caller(request)
    if who.kind == "admin":
        raise VeilError(403, "The admin key manages veil; use an account's key for inference")
    state.limits.check(who)  # 402 once the key's spend reached its limit; no I/O
    state.rate_limits.admit(who)  # 429 over the key's request rate; no I/O
    body = await read_body(request, state.body_limit)
    chat = parse_chat_request(body)
    # Validated once, here: the services behind read the routing summary and pass the
    # body on as the client sent it, so their cost does not grow with the prompt.
    envelope = RequestEnvelope(
        generation_id=generation_id,
        account_id=who.account_id,  # type: ignore[arg-type]
        key_id=who.key_id,  # type: ignore[arg-type]
        reply_subject=state.inbox.subject,
        received_at=time.time(),
        settings_revision=state.privacy.revisions.get(who.account_id, 0),  # type: ignore[arg-type]
        routing=chat.routing_summary(),
    )
    queue = state.inbox.open(generation_id)
    try:
        try:
            # With a reply subject, NATS answers "no responders" at once when no policy
            # is subscribed: a 503 in milliseconds, not a timeout.
            await publish_framed(
                state.broker.connection,
                subjects.REQUEST,
                envelope,
                body,
                reply=subjects.undelivered_subject(
                    state.inbox.instance, state.inbox.subject, generation_id
                ),
            )
        except Exception as exc:  # disconnected from NATS, or over its max_payload
            raise VeilError(503, "veil's message bus is unavailable; try again shortly") from exc
        # Until the response starts, a disconnect is only seen by watching for it.
        waiting = _first_reply(queue, state) if chat.stream else _final_reply(queue, state)
        first = await _unless_client_leaves(request, waiting)
        if first is None:
            await _cancel(state, generation_id)
            return Response(status_code=499)  # nobody is listening any more
    except BaseException as exc:
        state.inbox.close(generation_id)
        if isinstance(exc, Lost):
            state.inbox.give_up(_verdict(envelope, exc.code))
        raise
    header, completion = first
    if header.kind == "error":
        state.inbox.close(generation_id)
        return error_response(_error_of(header), {"X-Generation-Id": generation_id})
    if header.kind == "final" and not chat.stream:
        state.inbox.close(generation_id)
        return Response(  # the completion as the dispatcher wrote it
            completion,
            media_type="application/json",
            headers=response_headers(state, generation_id, header.provider, header.logged),
        )
    return await _stream_response(state, queue, envelope, header)


def _error_of(header: ReplyHeader) -> ErrorBody:
    return header.error or ErrorBody(code=502, message="Internal error: an error without a body")


async def _final_reply(queue: asyncio.Queue[Reply], state: GatewayState) -> Reply:
    """Non-streaming: the final completion or the error."""
    reply = await _first_reply(queue, state)
    while reply[0].kind not in ("final", "error"):
        reply = await _next(queue, state.settings.idle_timeout)
    return reply


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_client_leaves(request: Request, waiting) -> Reply | None:
    """Wait for a reply, or return None as soon as the client disconnects."""
    closed = request.scope.get(CONNECTION_CLOSED)
    if closed is not None:  # veil's own server: the connection says when it closes
        return await _unless_closed(closed, waiting)
    answer = asyncio.ensure_future(waiting)
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if answer.done():
        return answer.result()
    answer.cancel()
    return None


async def _unless_closed(closed: asyncio.Future, waiting) -> Reply | None:
    """`waiting`, in this task, cancelled if the connection closes first (then None)."""
    if closed.done():
        waiting.close()
        return None
    task = asyncio.current_task()
    assert task is not None
    waiting_here = True

    def leave(_: asyncio.Future) -> None:
        if waiting_here:  # (a callback already scheduled may run after we are done)
            task.cancel()

    closed.add_done_callback(leave)
    try:
        return await waiting
    except asyncio.CancelledError:
        if not closed.done():
            raise  # cancelled for another reason
        task.uncancel()  # the client's leaving, handled here
        return None
    finally:
        waiting_here = False
        closed.remove_done_callback(leave)


async def _cancel(state: GatewayState, generation_id: str) -> None:
    """Tell the dispatchers to stop this generation's upstream call."""
    state.inbox.close(generation_id)
    with contextlib.suppress(Exception):
        await state.broker.publish(CancelGeneration(generation_id=generation_id), subjects.CANCEL)


async def _first_reply(queue: asyncio.Queue[Reply], state: GatewayState) -> Reply:
    """Wait for a dispatcher to take the request, or for an error.

    A missing policy or dispatcher is answered at once by NATS ("no responders", turned
    into a 503 by the inbox), so silence here means a service took the request and was
    lost: the upstream may have received it, and the client must not be told otherwise.
    """
    try:
        async with asyncio.timeout(state.settings.accept_timeout):
            first = await queue.get()
    except TimeoutError:
        raise Lost() from None
    # Heartbeats ("accepted") mean a dispatcher is still on it: keep waiting, up to
    # idle_timeout between two of them, for the final (or the stream to start).
    while first[0].kind == "accepted":
        first = await _next(queue, state.settings.idle_timeout)
    return first


async def _stream_response(
    state: GatewayState, queue: asyncio.Queue[Reply], envelope: RequestEnvelope, first: ReplyHeader
) -> Response:
    generation_id = envelope.generation_id
    provider, model, logged = first.provider, first.model, first.logged
    served_by = state.index.providers.get(provider)

    def error_event(error: ErrorBody) -> bytes:
        return sse_event(
            error_chunk(generation_id, model, served_by.name if served_by else "", error)
        )

    async def events() -> AsyncIterator[bytes]:
        finished = False
        try:
            if first.kind == "final":
                finished = True
                yield DONE
                return
            interval = state.settings.keepalive_interval
            silent = 0.0
            while True:
                try:
                    reply = await asyncio.wait_for(queue.get(), interval)
                except TimeoutError:
                    silent += interval
                    if silent >= state.settings.idle_timeout:
                        lost = Lost()
                        yield error_event(lost.body)
                        state.inbox.give_up(_verdict(envelope, lost.code, model, provider))
                        finished = True
                        yield DONE
                        return
                    yield KEEPALIVE
                    continue
                silent = 0.0
                header, chunk = reply
                if header.kind == "chunk":  # the chunk's JSON as the dispatcher wrote it
                    yield b"".join((b"data: ", chunk, b"\n\n"))
                elif header.kind == "error":
                    yield error_event(_error_of(header))
                    finished = True
                    yield DONE
                    return
                elif header.kind == "final":
                    finished = True
                    yield DONE
                    return
                # "accepted": a heartbeat, the dispatcher is alive
        finally:
            state.inbox.close(generation_id)
            if not finished:  # the client went away mid-stream
                await _cancel(state, generation_id)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={
            **response_headers(state, generation_id, provider, logged),
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        },
    )
