"""POST /chat/completions: validate once at the edge, publish, relay what comes back."""

import secrets
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from veil.gateway.auth import KeyCaller
from veil.gateway.body import parse_chat_request, read_body
from veil.gateway.errors import error_response
from veil.gateway.replies import Lost, Replies, error_of
from veil.gateway.state import GatewayState
from veil.gateway.views.receipt import response_headers
from veil.schemas.errors import VeilError
from veil.schemas.messages import RequestEnvelope

router = APIRouter()


def new_generation_id() -> str:
    """OpenRouter's form, gen-<unix seconds>-<random>: sortable by time, unguessable."""
    return f"gen-{int(time.time())}-{secrets.token_hex(10)}"


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
    if not isinstance(who, KeyCaller):
        raise VeilError(403, "The admin key manages veil; use an account's key for inference")
    state.limits.check(who)  # 402 once the key's spend reached its limit; no I/O
    # ... or the budget of a guardrail that holds for it
    state.limits.check_guardrails(who, state.applying.for_key(who.account_id, who.key_id))
    state.rate_limits.admit(who)  # 429 over the key's request rate; no I/O
    body = await read_body(request, state.body_limit)
    chat = parse_chat_request(body)
    # Validated once, here: the services behind read the routing summary and pass the
    # body on as the client sent it, so their cost does not grow with the prompt.
    envelope = RequestEnvelope(
        generation_id=generation_id,
        account_id=who.account_id,
        key_id=who.key_id,
        reply_subject=state.inbox.subject,
        received_at=time.time(),
        settings_revision=state.privacy.revisions.get(who.account_id, 0),
        routing=chat.routing_summary(),
    )
    replies = Replies(state, envelope)
    streaming = False  # once the stream is handed its replies, it closes them
    try:
        await replies.send(body)
        first = await replies.first_or_leave(request, chat.stream)
        if first is None:
            await replies.cancel()
            return Response(status_code=499)  # nobody is listening any more
        header, completion = first
        if header.kind == "error":
            return error_response(error_of(header), {"X-Generation-Id": generation_id})
        receipt = response_headers(
            state.index,
            generation_id,
            header.provider,
            header.logged,
            header.guardrails,
            header.data_regions,
        )
        if header.kind == "final" and not chat.stream:
            # the completion as the dispatcher wrote it
            return Response(completion, media_type="application/json", headers=receipt)
        streaming = True
        return StreamingResponse(
            replies.events(header),
            media_type="text/event-stream",
            headers={**receipt, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    except Lost as lost:
        replies.lost(lost)
        raise
    finally:
        if not streaming:
            replies.close()
