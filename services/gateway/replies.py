"""Waiting for one generation's replies on this gateway's inbox, as JSON or SSE.

`Replies` owns the generation's slot in the inbox: it opens it when made and closes it
once, whichever way the wait ends (an answer, an error, the client leaving, the
dispatcher going silent), so no reply queue outlives its request.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Protocol

from fastapi import Request

from veil.bus import publish_framed
from veil.gateway.inbox import Reply
from veil.gateway.scope import CONNECTION_CLOSED
from veil.gateway.state import GatewayState
from veil.schemas import subjects
from veil.schemas.chat import split_routing_suffix
from veil.schemas.errors import ErrorBody, VeilError
from veil.schemas.messages import (
    CancelGeneration,
    GenerationVerdict,
    ReplyHeader,
    RequestEnvelope,
)

KEEPALIVE = b": veil processing\n\n"
LOST_MESSAGE = (
    "veil lost this request after one of its services took it; the upstream provider may "
    "have received it: check GET /api/v1/generation with this X-Generation-Id before retrying"
)


class StreamEncoder(Protocol):
    """One stream's events in its client's surface format (`veil.gateway.surfaces`)."""

    def chunk(self, data: bytes) -> bytes:
        """A canonical chunk (JSON, as the dispatcher wrote it)."""
        ...

    def failed(self, error: ErrorBody) -> bytes:
        """The stream ends with this error."""
        ...

    def end(self) -> bytes:
        """The end of the stream."""
        ...


class Lost(VeilError):
    """The gateway stopped hearing from the service that took the request."""

    def __init__(self) -> None:
        super().__init__(502, LOST_MESSAGE, {"upstream_may_have_received": True})


def error_of(header: ReplyHeader) -> ErrorBody:
    return header.error or ErrorBody(code=502, message="Internal error: an error without a body")


class Replies:
    def __init__(self, state: GatewayState, envelope: RequestEnvelope):
        self.state = state
        self.envelope = envelope
        self.generation_id = envelope.generation_id
        self.queue = state.inbox.open(envelope.generation_id)
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.state.inbox.close(self.generation_id)

    async def send(self, body: bytes) -> None:
        """The request, to policy. With a reply subject, NATS answers "no responders" at
        once when no policy is subscribed: a 503 in milliseconds, not a timeout."""
        inbox = self.state.inbox
        try:
            await publish_framed(
                self.state.broker.connection,
                subjects.REQUEST,
                self.envelope,
                body,
                reply=subjects.undelivered_subject(
                    inbox.instance, inbox.subject, self.generation_id
                ),
            )
        except Exception as exc:  # disconnected from NATS, or over its max_payload
            raise VeilError(503, "veil's message bus is unavailable; try again shortly") from exc

    async def cancel(self) -> None:
        """The client left: stop the dispatchers' work on it."""
        self.close()
        with contextlib.suppress(Exception):
            cancel = CancelGeneration(generation_id=self.generation_id)
            await self.state.broker.publish(cancel, subjects.CANCEL)

    def lost(self, error: VeilError, model: str = "", provider: str | None = None) -> None:
        """This gateway ends the generation with an error of its own: record what the
        client was told (the inbox's verdict)."""
        self.close()
        routing = self.envelope.routing
        self.state.inbox.give_up(
            GenerationVerdict(
                generation_id=self.generation_id,
                account_id=self.envelope.account_id,
                key_id=self.envelope.key_id,
                created_at=self.envelope.received_at,
                model=model or split_routing_suffix(routing.candidate_models[0])[0],
                provider=provider or None,
                error_code=error.code,
                streamed=routing.stream,
                decided_at=time.time(),
            )
        )

    # --- waiting -----------------------------------------------------------------------------

    async def first_or_leave(self, request: Request, stream: bool) -> Reply | None:
        """The first reply that answers the client (the final one, without streaming),
        or None as soon as the client disconnects."""
        waiting = self.first() if stream else self.final()
        closed = request.scope.get(CONNECTION_CLOSED)
        if closed is not None:  # veil's own server: the connection says when it closes
            return await _unless_closed(closed, waiting)
        return await _unless_disconnected(request, waiting)

    async def next(self) -> Reply:
        # asyncio.timeout, not wait_for: wait_for runs the get in a task of its own, even
        # when a reply is already waiting in the queue.
        try:
            async with asyncio.timeout(self.state.settings.idle_timeout):
                return await self.queue.get()
        except TimeoutError:
            raise Lost() from None

    async def first(self) -> Reply:
        """Wait for a dispatcher to take the request, or for an error.

        A missing policy or dispatcher is answered at once by NATS ("no responders",
        turned into a 503 by the inbox), so silence here means a service took the request
        and was lost: the upstream may have received it, and the client must not be told
        otherwise."""
        try:
            async with asyncio.timeout(self.state.settings.accept_timeout):
                first = await self.queue.get()
        except TimeoutError:
            raise Lost() from None
        # Heartbeats ("accepted") mean a dispatcher is still on it: keep waiting, up to
        # idle_timeout between two of them, for the final (or the stream to start).
        while first[0].kind == "accepted":
            first = await self.next()
        return first

    async def final(self) -> Reply:
        """Non-streaming: the final completion or the error."""
        reply = await self.first()
        while reply[0].kind not in ("final", "error"):
            reply = await self.next()
        return reply

    async def events(self, first: ReplyHeader, encoder: StreamEncoder) -> AsyncIterator[bytes]:
        """The SSE stream after `first` (a start or the final): the dispatcher's chunks as
        `encoder` writes them for the client's surface, keep-alive comments while the
        upstream thinks, and the surface's end of stream."""
        provider, model = first.provider, first.model
        finished = False
        try:
            if first.kind == "final":
                finished = True
                yield encoder.end()
                return
            interval = self.state.settings.keepalive_interval
            silent = 0.0
            while True:
                try:
                    reply = await asyncio.wait_for(self.queue.get(), interval)
                except TimeoutError:
                    silent += interval
                    if silent >= self.state.settings.idle_timeout:
                        lost = Lost()
                        yield encoder.failed(lost.body)
                        self.lost(lost, model, provider)
                        finished = True
                        yield encoder.end()
                        return
                    yield KEEPALIVE
                    continue
                silent = 0.0
                header, chunk = reply
                if header.kind == "chunk":  # the chunk's JSON as the dispatcher wrote it
                    yield encoder.chunk(chunk)
                elif header.kind in ("error", "final"):
                    if header.kind == "error":
                        yield encoder.failed(error_of(header))
                    finished = True
                    yield encoder.end()
                    return
                # "accepted": a heartbeat, the dispatcher is alive
        finally:
            self.close()
            if not finished:  # the client went away mid-stream
                await self.cancel()


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(
    request: Request, waiting: Coroutine[Any, Any, Reply]
) -> Reply | None:
    """Wait for a reply, or return None as soon as the client disconnects (servers
    other than veil's own, which says when a connection closes)."""
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


async def _unless_closed(
    closed: asyncio.Future, waiting: Coroutine[Any, Any, Reply]
) -> Reply | None:
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
