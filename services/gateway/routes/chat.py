"""The generation routes: POST /chat/completions, /messages, /responses and /embeddings.

Validate once at the edge, publish, relay what comes back: one path for every surface
(`veil.gateway.surfaces` says how each reads its request and writes its answer)."""

import secrets
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from veil.gateway.auth import KeyCaller
from veil.gateway.body import read_body
from veil.gateway.replies import Lost, Replies, error_of
from veil.gateway.state import GatewayState
from veil.gateway.surfaces import COMPLETIONS, EMBEDDINGS, MESSAGES, RESPONSES, Parsed, Surface
from veil.gateway.views.receipt import response_headers
from veil.schemas.errors import VeilError
from veil.schemas.messages import RequestEnvelope

router = APIRouter()


def new_generation_id() -> str:
    """OpenRouter's form, gen-<unix seconds>-<random>: sortable by time, unguessable."""
    return f"gen-{int(time.time())}-{secrets.token_hex(10)}"


async def _generation(request: Request, surface: Surface) -> Response:
    # Every answer names its generation, errors included, so a client can always ask
    # GET /generation what happened before it retries.
    generation_id = new_generation_id()
    try:
        return await _answer(request, generation_id, surface)
    except VeilError as exc:
        return surface.error(exc.body, {"X-Generation-Id": generation_id})


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await _generation(request, COMPLETIONS)


@router.post("/messages")
async def messages(request: Request) -> Response:
    return await _generation(request, MESSAGES)


@router.post("/responses")
async def responses(request: Request) -> Response:
    return await _generation(request, RESPONSES)


@router.post("/embeddings")
async def embeddings(request: Request) -> Response:
    return await _generation(request, EMBEDDINGS)


async def _check_storage(state: GatewayState, who: KeyCaller, parsed: Parsed) -> None:
    """A stored response is content at rest: only for an account that opted in to
    prompt logging (which is then what keeps it)."""
    if parsed.wants_storage:
        settings = await state.privacy.refresh(who.account_id)
        if settings is None or not settings.enable_prompt_logging:
            raise VeilError(
                400,
                "store: true keeps the response, which is content at rest: this account "
                "has not opted in to prompt logging (PATCH /api/v1/privacy "
                '{"enable_prompt_logging": true}); send store: false',
                {"field": "store"},
            )


async def _answer(request: Request, generation_id: str, surface: Surface) -> Response:
    # The hottest route resolves its caller inline: FastAPI's dependency solving measured
    # about an eighth of the gateway's time under load.
    state: GatewayState = request.app.state.veil
    who = state.auth.caller(request)
    if not isinstance(who, KeyCaller):
        raise VeilError(403, "The admin key manages veil; use an account's key for inference")
    state.limits.check(who)  # 402 once the key's spend reached its limit; no I/O
    # ... or the budget of a guardrail that holds for it
    state.limits.check_guardrails(who, state.applying.for_key(who.account_id, who.key_id))
    state.rate_limits.admit(who)  # 429 over the key's request rate; no I/O
    parsed = surface.parse(await read_body(request, state.body_limit))
    await _check_storage(state, who, parsed)
    envelope = RequestEnvelope(
        generation_id=generation_id,
        account_id=who.account_id,
        key_id=who.key_id,
        reply_subject=state.inbox.subject,
        received_at=time.time(),
        settings_revision=state.privacy.revisions.get(who.account_id, 0),
        routing=parsed.routing,
    )
    replies = Replies(state, envelope)
    streaming = False  # once the stream is handed its replies, it closes them
    try:
        await replies.send(parsed.body)
        first = await replies.first_or_leave(request, parsed.stream)
        if first is None:
            await replies.cancel()
            return Response(status_code=499)  # nobody is listening any more
        header, completion = first
        if header.kind == "error":
            return surface.error(error_of(header), {"X-Generation-Id": generation_id})
        receipt = response_headers(
            state.index,
            generation_id,
            header.provider,
            header.logged,
            header.guardrails,
            header.data_regions,
        )
        if header.kind == "final" and not parsed.stream:
            body = surface.final(completion, parsed)
            return Response(body, media_type="application/json", headers=receipt)
        streaming = True
        encoder = surface.stream(
            generation_id, header.model, state.index.providers.get(header.provider), parsed
        )
        return StreamingResponse(
            replies.events(header, encoder),
            media_type="text/event-stream",
            headers={**receipt, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    except Lost as lost:
        replies.lost(lost)
        raise
    finally:
        if not streaming:
            replies.close()
