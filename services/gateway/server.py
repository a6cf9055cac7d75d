"""The gateway's HTTP server: uvicorn, with deadlines on reading each request.

uvicorn's httptools protocol bounds neither how long a request's headers take to
arrive nor how large they grow (its `timeout_keep_alive` only closes a connection idle
*between* requests, and `h11_max_incomplete_event_size` applies to the h11 protocol
only): one client trickling a header byte by byte holds a connection forever, and one
sending an endless header grows the process by as much. `GuardedHttpToolsProtocol` adds
what nginx calls client_header_timeout, large_client_header_buffers and
client_body_timeout:

- a request's headers must arrive within `header_timeout` of its first byte (or of the
  connection opening) and within `max_header_bytes`: else 408 (431), and the connection
  closes (silently if not one byte of a request came);
- its body within `body_timeout` of its headers. The chat routes' `read_body` answers
  408 in the error shape at that point; one second later the server closes whatever
  request is still incomplete, answering 408 itself if nothing answered yet (the routes
  whose bodies FastAPI parses).
"""

import asyncio

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from veil.gateway.app import build_app
from veil.gateway.config import GatewaySettings

# After body_timeout, a route reading its own body answers first; the server's own
# deadline comes this much later, so it only ever catches what nothing else answered.
BODY_GRACE = 1.0
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

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._discarding = False  # refused: what still arrives is dropped
        self._header_bytes = 0
        self._began = False  # a byte of the current request has arrived
        self._body_deadline: asyncio.TimerHandle | None = None
        self._header_deadline: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout, self._headers_late
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadlines()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        super().data_received(data)
        if self._header_deadline is not None and self._began:
            # Still in the headers after this chunk: all of it was header bytes.
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes and not self.transport.is_closing():
                self._refuse(431, f"Request headers larger than {self.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._began = True
        self._header_bytes = 0
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def on_headers_complete(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        self._began = False
        super().on_headers_complete()
        self._body_deadline = self.loop.call_later(self.body_timeout + BODY_GRACE, self._body_late)

    def on_message_complete(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None
        super().on_message_complete()

    def _cancel_deadlines(self) -> None:
        for deadline in (self._header_deadline, self._body_deadline):
            if deadline is not None:
                deadline.cancel()
        self._header_deadline = self._body_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if not self._began:  # an idle connection: close it as keep-alive expiry would
            self._cancel_deadlines()
            self.transport.close()
            return
        self._refuse(408, f"Request headers not received within {self.header_timeout:g} s")

    def _body_late(self) -> None:
        self._body_deadline = None
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            # Something answered already: close once that answer is out.
            if cycle.response_complete:
                self.transport.close()
            else:
                cycle.keep_alive = False
            return
        self._refuse(408, f"Request body not received within {self.body_timeout:g} s")

    def _refuse(self, status: int, message: str) -> None:
        self._cancel_deadlines()
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


def serve(settings: GatewaySettings) -> None:
    uvicorn.run(
        build_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http=guarded_protocol(settings),
        ws="none",  # the gateway serves no websockets: an upgrade is a plain request
        # Closes a connection idle between two requests (not one slow within a request).
        timeout_keep_alive=5,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
