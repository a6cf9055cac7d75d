"""The chat route without the framework around it.

`POST /api/v1/chat/completions` is nearly all of the gateway's traffic. Through FastAPI
each request crossed seven middleware layers, route matching and the endpoint wrapper
before reaching `chat_completions`, which needs none of them (it reads its own body,
resolves its own caller and builds its own response), and they were a large share of
the gateway's CPU under load (`python -m benchmarks.profile gateway`). This ASGI wrapper hands that
one route straight to the same handler and everything else to FastAPI, which still
documents the route in its OpenAPI document.
"""

import logging

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from veil.gateway.errors import error_response
from veil.gateway.routes.chat import chat_completions
from veil.schemas.errors import ErrorBody
from veil.telemetry import count_request

CHAT_PATH = "/api/v1/chat/completions"
log = logging.getLogger(__name__)


def with_fast_chat(app: FastAPI):
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CHAT_PATH or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        scope["app"] = app  # what FastAPI sets, for `request.app.state`
        try:
            response = await chat_completions(Request(scope, receive))
        except Exception:  # what FastAPI's error middleware would have caught
            log.exception("the chat route failed")
            response = error_response(ErrorBody(code=500, message="Internal error"))
        count_request(response.status_code, response.headers.get("x-veil-provider", ""))
        await response(scope, receive, send)

    return asgi
