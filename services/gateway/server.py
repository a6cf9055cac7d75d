"""The gateway's HTTP server: uvicorn, with deadlines on reading each request.

uvicorn's httptools protocol bounds neither how long a request's headers take to
arrive nor how large they grow (its `timeout_keep_alive` only closes a connection idle
*between* requests, and `h11_max_incomplete_event_size` applies to the h11 protocol
only), nor how long a declared body takes: one client trickling a header byte by byte,
or sending 4 of 100 declared body bytes, holds a connection forever, and one sending an
endless header grows the process by as much. `GuardedHttpToolsProtocol` adds what nginx
calls client_header_timeout, large_client_header_buffers and client_body_timeout:

- a request's headers must arrive within `header_timeout` of its first byte (or of the
  connection opening) and within `max_header_bytes`: else 408 (431), and the connection
  closes (silently if not one byte of a request came, as an idle one would);
- its body within `body_timeout` of its headers: else 408 and the connection closes. A
  route that reads its own body (the chat routes' `read_body`) marks the request with
  READS_OWN_BODY; for those the server ends the body at the deadline and sets BODY_LATE,
  and the route answers the 408 itself (with its X-Generation-Id).

Deadlines are checked by one sweep of the open connections every SWEEP_EVERY seconds,
so a request costs two attribute writes, not a timer: each deadline is kept within
that much.

A graceful stop (`DrainingServer`) first drains for `drain_delay` seconds: /readyz
answers 503 and every answer closes its connection, while requests are still served;
only then does the listener close. Closing at once would refuse connections a load
balancer still sends here and cut keep-alive connections a client is about to use.
"""

import asyncio
import time
from types import FrameType

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from veil.gateway.app import build_app
from veil.gateway.config import GatewaySettings
from veil.gateway.fastpath import with_fast_chat
from veil.gateway.scope import BODY_LATE, CONNECTION_CLOSED, READS_OWN_BODY

SWEEP_EVERY = 0.25
# How long a refused connection still swallows what the client sends before it closes:
# closing with unread bytes would reset the connection, which can destroy the answer
# in the client's buffers before it is read.
LINGER = 1.0
REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def error_bytes(status: int, message: str) -> bytes:
    """A complete HTTP response in veil's error shape, closing the connection."""
    body = orjson.dumps({"error": {"code": status, "message": message}})
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % (status, REASONS[status], len(body))
    )
    return head + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines (see the module)."""

    header_timeout = 10.0
    max_header_bytes = 64 * 1024
    body_timeout = 30.0
    draining = False  # set on the base class when the server begins draining
    _sweeper: "asyncio.Task | None" = None  # one per process, over every connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._discarding = False  # refused: what still arrives is dropped
        self._began = False  # a byte of the current request's headers has arrived
        self._header_bytes = 0
        self._reading_body = False
        self._deadline: float | None = self.loop.time() + self.header_timeout
        self.closed: asyncio.Future[None] = self.loop.create_future()
        cls = type(self)
        if cls._sweeper is None or cls._sweeper.done():
            cls._sweeper = self.loop.create_task(_sweep(self.connections, self.loop))

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        if not self.closed.done():
            self.closed.set_result(None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        super().data_received(data)
        if self._began:
            # Still in the headers after this chunk: all of it was header bytes.
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes and not self.transport.is_closing():
                self._refuse(431, f"Request headers larger than {self.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[CONNECTION_CLOSED] = self.closed  # type: ignore[literal-required]
        self._began = True
        self._header_bytes = 0
        if self._deadline is None:
            self._deadline = self.loop.time() + self.header_timeout

    def on_headers_complete(self) -> None:
        self._began = False
        self._reading_body = True
        self._deadline = self.loop.time() + self.body_timeout
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with "connection: close"

    def on_message_complete(self) -> None:
        self._reading_body = False
        self._deadline = None
        super().on_message_complete()

    def expire(self) -> None:
        """The current deadline passed (called by the sweep)."""
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._reading_body:
            self._body_late()
        elif self._began:
            self._refuse(408, f"Request headers not received within {self.header_timeout:g} s")
        else:  # an idle connection: close it as keep-alive expiry would
            self.transport.close()

    def _body_late(self) -> None:
        cycle = self.cycle
        if cycle is None:
            self._refuse(408, f"Request body not received within {self.body_timeout:g} s")
            return
        if cycle.response_started:
            # Something answered already: close once that answer is out.
            if cycle.response_complete:
                self.transport.close()
            else:
                cycle.keep_alive = False
            return
        if cycle.scope.get(READS_OWN_BODY):
            # End the body here and say why; the route answers, then the connection
            # closes (the rest of the body must never be read as a next request).
            cycle.scope[BODY_LATE] = self.body_timeout  # type: ignore[literal-required]
            cycle.more_body = False
            cycle.keep_alive = False
            cycle.message_event.set()
            return
        self._refuse(408, f"Request body not received within {self.body_timeout:g} s")

    def _refuse(self, status: int, message: str) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(error_bytes(status, message))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's reads end, its answer goes nowhere
            cycle.message_event.set()
        self._discarding = True
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer, then the end of the connection
            self.loop.call_later(LINGER, self.transport.close)
        else:
            self.transport.close()


async def _sweep(connections: set, loop: asyncio.AbstractEventLoop) -> None:
    while True:
        await asyncio.sleep(SWEEP_EVERY)
        now = loop.time()
        for connection in list(connections):
            deadline = getattr(connection, "_deadline", None)
            if deadline is not None and now >= deadline:
                connection.expire()


def guarded_protocol(settings: GatewaySettings) -> type[GuardedHttpToolsProtocol]:
    """The protocol class with these settings' deadlines (uvicorn takes a class)."""
    return type(
        "GatewayHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout": settings.header_timeout,
            "max_header_bytes": settings.max_header_bytes,
            "body_timeout": settings.body_timeout,
        },
    )


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining for `drain_delay` seconds on the first SIGTERM or
    SIGINT before its graceful shutdown (a second signal stops at once)."""

    def __init__(self, config: uvicorn.Config, drain_delay: float, on_drain=None):
        super().__init__(config)
        self.drain_delay = drain_delay
        self.on_drain = on_drain
        self.drain_began: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_delay > 0 and self.drain_began is None:
            self.drain_began = time.monotonic()
            GuardedHttpToolsProtocol.draining = True
            if self.on_drain is not None:
                self.on_drain()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        began = self.drain_began
        if began is not None and time.monotonic() - began >= self.drain_delay:
            return True
        return await super().on_tick(counter)


def serve(settings: GatewaySettings) -> None:
    app = build_app(settings)
    config = uvicorn.Config(
        with_fast_chat(app),
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http=guarded_protocol(settings),
        ws="none",  # the gateway serves no websockets: an upgrade is a plain request
        # Closes a connection idle between two requests (not one slow within a request).
        timeout_keep_alive=5,
        access_log=False,
        # veil keeps no client address (it is never recorded nor passed on), so there
        # is nothing for X-Forwarded-For to correct: skip the middleware per request.
        proxy_headers=False,
        log_level="warning",
        log_config=None,  # the process's own (veil.logs: text or JSON lines)
        timeout_graceful_shutdown=10,
    )
    server = DrainingServer(
        config, settings.drain_delay, on_drain=lambda: setattr(app.state, "draining", True)
    )
    server.run()
