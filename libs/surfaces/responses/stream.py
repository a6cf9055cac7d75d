"""Canonical `chat.completion.chunk`s as the Responses API's server-sent events
(`ResponseStream`): the items, ids and final Response of `reply`, announced, grown by
deltas and closed as OpenAI's streams do.
"""

import time
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from veil.surfaces.responses.reply import (
    ERROR_CODES,
    _call_item,
    _item_id,
    _message_item,
    _output_text,
    _response,
    _status,
    echo_fields,
    failure_code,
    response_usage,
)


@dataclass
class _Item:
    """An output item being streamed: a message's text or a function call's arguments."""

    kind: Literal["message", "function_call"]
    output_index: int
    id: str
    text: str = ""
    call_id: str = ""
    name: str = ""
    done: bool = False
    status: str = "in_progress"

    def body(self) -> dict[str, Any]:
        if self.kind == "message":
            return _message_item(self.id, self.status, [_output_text(self.text)])
        return _call_item(self.id, self.status, self.call_id, self.name, self.text)


class ResponseStream:
    """Canonical `chat.completion.chunk`s in, the Responses API's server-sent events out.

    `feed` each chunk as it comes (the first call also announces the response:
    `response.created`, `response.in_progress`; `start` does so early), then `close`
    (the `*.done` events and `response.completed`, or `response.incomplete` when the
    output was cut short), or `error` when the stream fails. Every event is
    `event: <type>\\ndata: <json>\\n\\n`, its data carrying `type` and `sequence_number`.

    Output items follow one another as in OpenAI's streams: the message is closed when the
    first function call starts (text after a call opens a new message item); function
    calls stay open until `close`, so fragments of parallel calls may interleave."""

    def __init__(self, response_id: str, model: str, request: dict[str, Any]):
        self.response_id = response_id
        self.model = model
        self.echo = echo_fields(request)
        self.created_at = int(time.time())
        self._sequence = 0
        self._started = False
        self._finished = False
        self._items: list[_Item] = []
        self._message: _Item | None = None  # the message item receiving text, if open
        self._calls: dict[int, _Item] = {}  # by the chat tool call's index
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None

    # -- events ----------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        output = [item.body() for item in self._items] if status != "in_progress" else []
        usage = response_usage(self._usage) if status != "in_progress" else None
        return _response(
            self.response_id,
            self.model,
            self.created_at,
            self.echo,
            status,
            output,
            usage,
            **extra,
        )

    def start(self) -> bytes:
        """`response.created` and `response.in_progress`, once (later calls return b"")."""
        if self._started:
            return b""
        self._started = True
        return self._event(
            "response.created", response=self._snapshot("in_progress")
        ) + self._event("response.in_progress", response=self._snapshot("in_progress"))

    def _open(self, kind: Literal["message", "function_call"]) -> _Item:
        index = len(self._items)
        item = _Item(kind, index, _item_id(kind, self.response_id, index))
        self._items.append(item)
        return item

    def _open_message(self) -> bytes:
        item = self._message = self._open("message")
        added = _message_item(item.id, "in_progress", [])
        return self._event(
            "response.output_item.added", output_index=item.output_index, item=added
        ) + self._event(
            "response.content_part.added",
            item_id=item.id,
            output_index=item.output_index,
            content_index=0,
            part=_output_text(""),
        )

    def _close_item(self, item: _Item, status: str) -> bytes:
        if item.done:
            return b""
        item.done, item.status = True, status
        if item is self._message:
            self._message = None
        where = {"item_id": item.id, "output_index": item.output_index}
        if item.kind == "message":
            events = self._event(
                "response.output_text.done", **where, content_index=0, text=item.text, logprobs=[]
            ) + self._event(
                "response.content_part.done", **where, content_index=0, part=_output_text(item.text)
            )
        else:
            events = self._event(
                "response.function_call_arguments.done",
                **where,
                name=item.name,
                arguments=item.text,
            )
        return events + self._event(
            "response.output_item.done", output_index=item.output_index, item=item.body()
        )

    # -- chunks ----------------------------------------------------------------------

    def _text(self, delta: str) -> bytes:
        events = b"" if self._message is not None else self._open_message()
        item = self._message
        assert item is not None
        item.text += delta
        return events + self._event(
            "response.output_text.delta",
            item_id=item.id,
            output_index=item.output_index,
            content_index=0,
            delta=delta,
            logprobs=[],
        )

    def _tool_call(self, fragment: dict[str, Any]) -> bytes:
        index = fragment.get("index")
        index = index if isinstance(index, int) else 0
        function = fragment.get("function") or {}
        item = self._calls.get(index)
        events = b""
        if item is None:
            if self._message is not None:
                events += self._close_item(self._message, "completed")
            item = self._calls[index] = self._open("function_call")
            item.call_id = fragment.get("id") or f"call_{self.response_id}_{item.output_index}"
            item.name = function.get("name") or ""
            events += self._event(
                "response.output_item.added", output_index=item.output_index, item=item.body()
            )
        elif not item.name and function.get("name"):
            item.name = function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.text += arguments
            events += self._event(
                "response.function_call_arguments.delta",
                item_id=item.id,
                output_index=item.output_index,
                delta=arguments,
            )
        return events

    def _choice(self, choice: dict[str, Any]) -> bytes:
        delta = choice.get("delta") or {}
        events = b""
        content = delta.get("content")
        if isinstance(content, str) and content:
            events += self._text(content)
        for fragment in delta.get("tool_calls") or ():
            if isinstance(fragment, dict):
                events += self._tool_call(fragment)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        return events

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """The events one canonical chunk makes (none once the stream is closed). The
        usage, on the last chunk or its own after the finish, is kept for `close`; an
        error chunk (veil's, `finish_reason: "error"` with `error`) fails the response."""
        if self._finished:
            return b""
        events = self.start()
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        error = chunk.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            message = str(error.get("message") or "The provider stopped with an error")
            return events + self.error(
                message, failure_code(code if isinstance(code, int) else 500)
            )
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                events += self._choice(choice)
        return events

    def close(self) -> bytes:
        """The `*.done` events of the items still open, then `response.completed` (or
        `response.incomplete`, or `response.failed` after a finish_reason "error") with
        the whole Response and its usage."""
        status, reason = _status(self._finish_reason)
        if status == "failed":
            return self.error("The provider stopped with an error")
        if self._finished:
            return b""
        events = self.start()
        self._finished = True
        if not self._items:
            events += self._open_message()  # an empty answer is still a message
        item_status = "completed" if status == "completed" else "incomplete"
        for item in self._items:
            events += self._close_item(item, item_status)
        final = self._snapshot(status, incomplete_reason=reason)
        return events + self._event(f"response.{status}", response=final)

    def error(self, message: str, code: str = "server_error") -> bytes:
        """`response.failed`, as OpenAI ends a stream that failed: the Response with
        `status: "failed"`, its `error` ({code, message}) and the output streamed so far
        (items left open marked incomplete). A `code` outside OpenAI's list of Response
        error codes is sent as "server_error"."""
        if self._finished:
            return b""
        events = self.start()
        self._finished = True
        for item in self._items:
            if not item.done:
                item.status = "incomplete"
        error = {"code": code if code in ERROR_CODES else "server_error", "message": message}
        return events + self._event(
            "response.failed", response=self._snapshot("failed", error=error)
        )
