"""Prompt logging in the dispatcher: what the client received, reassembled, then sealed.

Only for generations whose account opted in (`RoutedRequest.log_content`); others pay
nothing here. The record is sealed with the account's data key before it leaves the
process, so it is ciphertext on JetStream and in ClickHouse.
"""

from collections.abc import Mapping
from typing import Any

import orjson

from veil.keyring import Keyring, record_context, seal
from veil.schemas.content import ContentRecord, LoggedCompletion, LoggedContent
from veil.schemas.errors import ErrorBody
from veil.schemas.messages import RoutedRequest


class CompletionLog:
    """The completion as the client received it, from a whole response or its chunks."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.error: ErrorBody | None = None
        self.vectors: int | None = None  # an embeddings answer: how many, never them

    def response(self, completion: dict[str, Any]) -> None:
        for choice in (completion.get("choices") or [])[:1]:
            message = choice.get("message") or {}
            if isinstance(message.get("content"), str):
                self.text.append(message["content"])
            for position, call in enumerate(message.get("tool_calls") or ()):
                self.tool_calls[position] = call
            self.finish_reason = choice.get("finish_reason")

    def chunk(self, chunk: Mapping[str, Any]) -> None:
        for choice in (chunk.get("choices") or [])[:1]:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self.text.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                self._merge_call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _merge_call(self, delta: dict[str, Any]) -> None:
        """Stream tool calls arrive as deltas: the first names the call, the rest append
        to its arguments."""
        call = self.tool_calls.setdefault(
            delta.get("index", len(self.tool_calls)),
            {"id": None, "type": "function", "function": {"name": None, "arguments": ""}},
        )
        call["id"] = delta.get("id") or call["id"]
        function = delta.get("function") or {}
        call["function"]["name"] = function.get("name") or call["function"]["name"]
        call["function"]["arguments"] += function.get("arguments") or ""

    def failed(self, error: ErrorBody) -> None:
        self.error = error
        self.finish_reason = "error"

    def logged(self) -> LoggedCompletion:
        return LoggedCompletion(
            content="".join(self.text) if self.text else None,
            tool_calls=[self.tool_calls[i] for i in sorted(self.tool_calls)] or None,
            finish_reason=self.finish_reason,
            error=self.error.model_dump(exclude_none=True) if self.error else None,
            vectors=self.vectors,
        )


async def sealed_record(
    keyring: Keyring,
    routed: RoutedRequest,
    request: dict[str, Any],
    log: CompletionLog,
    model: str,
    provider: str | None,
    redacted: bool = False,
) -> ContentRecord | None:
    """`request`: the body as the client sent it, parsed (its top-level nulls left out),
    with what content filters redacted replaced (`redacted`: some was)."""
    envelope = routed.envelope
    content = LoggedContent(
        request={k: v for k, v in request.items() if v is not None},
        completion=log.logged(),
        redacted=redacted,
    )
    found = await keyring.for_record(envelope.account_id, envelope.received_at)
    if found is None:
        return None  # the account erased its log while this generation was in flight
    key_id, key = found
    nonce, sealed = seal(
        key,
        orjson.dumps(content.model_dump(mode="json")),
        record_context(envelope.account_id, envelope.generation_id),
    )
    return ContentRecord(
        generation_id=envelope.generation_id,
        account_id=envelope.account_id,
        created_at=envelope.received_at,
        model=model,
        provider=provider,
        key_id=key_id,
        nonce=nonce,
        sealed=sealed,
    )
