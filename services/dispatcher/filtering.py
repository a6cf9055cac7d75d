"""Content filters in the dispatcher: the request is scanned where it is built for the
upstream, and what a guardrail redacts never leaves this process.

Every place a prompt carries text is scanned: each message's content (a string or text
parts), the arguments of the tool calls it makes, tool results and system prompts. A
`block` match refuses the request before any upstream is called (naming the filter and
the message, never the text); `redact` replaces entities with placeholders, the same
entity with the same placeholder across messages; `flag` only counts. With `restore`,
the placeholders in the answer go back to the originals, which live in this object for
the life of the request and nowhere else.
"""

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from veil.schemas.errors import ErrorBody
from veil.schemas.guardrails import AppliedFilter
from veil.sensitive.redaction import Redactor, Restorer
from veil.sensitive.scanner import Match, scanner_for


@dataclass(frozen=True)
class Blocked:
    label: str
    message_index: int  # of the messages, or of an embeddings request's inputs
    part: str = "message"  # or "input"

    def error(self) -> ErrorBody:
        return ErrorBody(
            code=403,
            message=f"The request was blocked by the content filter {self.label} "
            f"({self.part} {self.message_index}); nothing was sent to a provider",
            metadata={"filter": self.label, "message_index": self.message_index},
        )


@dataclass
class RequestFilter:
    filters: list[AppliedFilter]
    restore: bool = False
    redactor: Redactor = field(default_factory=Redactor)
    flagged: Counter[str] = field(default_factory=Counter)
    blocked: Blocked | None = None
    matched: Counter[tuple[str, str]] = field(default_factory=Counter)  # (filter, action)
    _restorers: dict[tuple[str, int], Restorer] = field(default_factory=dict)

    def apply(self, body: dict[str, Any]) -> Blocked | None:
        """Scan the upstream body's messages (or an embeddings request's texts, as the
        user's), redacting in place; the first block."""
        scanner = scanner_for(self.filters)
        for index, role, holder, key in _body_texts(body):
            text = holder[key]
            matches = scanner.scan(text, role)
            if not matches:
                continue
            self._count(matches)
            block = next((m for m in matches if m.action == "block"), None)
            if block is not None:
                self.blocked = Blocked(
                    block.label, index, "input" if "input" in body else "message"
                )
                return self.blocked
            holder[key] = self.redactor.redact(text, matches)
        return None

    def _count(self, matches: list[Match]) -> None:
        for match in matches:
            self.matched[self._kind(match.label), match.action] += 1
            if match.action == "flag":
                self.flagged[match.label] += 1

    def _kind(self, label: str) -> str:
        """For metrics: the builtin's slug, or "custom" (a bounded set of label values)."""
        for f in self.filters:
            if f.label == label:
                return f.builtin or "custom"
        return "custom"

    @property
    def restoring(self) -> bool:
        return self.restore and bool(self.redactor.originals)

    def restore_completion(self, completion: dict[str, Any]) -> None:
        """A whole answer, its placeholders back to the originals (in place)."""
        for choice in completion.get("choices") or ():
            message = choice.get("message") or {}
            for holder, key in _texts(message):
                holder[key] = self.redactor.restore(holder[key])

    def restore_chunk(self, chunk: Mapping[str, Any]) -> None:
        """One streamed chunk (in place): a placeholder split across chunks is held back
        until it is whole, and what is held is let out with the choice's last chunk."""
        for choice in chunk.get("choices") or ():
            number = choice.get("index", 0)
            delta = choice.get("delta") or {}
            finishing = bool(choice.get("finish_reason"))
            if isinstance(delta.get("content"), str) or finishing:
                restorer = self._restorer(("content", number))
                text = restorer.feed(delta.get("content") or "")
                if finishing:
                    text += restorer.flush()
                if text or "content" in delta:
                    delta["content"] = text
                    choice["delta"] = delta
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                if isinstance(function.get("arguments"), str):
                    restorer = self._restorer(("call", call.get("index", 0)))
                    function["arguments"] = restorer.feed(function["arguments"])
            if finishing:
                self._flush_calls(delta)

    def _flush_calls(self, delta: dict[str, Any]) -> None:
        for (kind, number), restorer in list(self._restorers.items()):
            if kind == "call" and restorer.held:
                held = restorer.flush()
                calls = delta.setdefault("tool_calls", [])
                calls.append({"index": number, "function": {"arguments": held}})

    def _restorer(self, key: tuple[str, int]) -> Restorer:
        found = self._restorers.get(key)
        if found is None:
            found = self._restorers[key] = Restorer(self.redactor)
        return found

    def held(self) -> str:
        """Text still held back when a stream ended without its last chunk."""
        return "".join(r.flush() for k, r in self._restorers.items() if k[0] == "content")


def _body_texts(body: dict[str, Any]) -> Iterator[tuple[int, Any, Any, Any]]:
    """(message or input index, role, holder, key) of every text of a request body."""
    inputs = body.get("input")
    if isinstance(inputs, str):
        yield 0, "user", body, "input"
    elif isinstance(inputs, list):
        for index, item in enumerate(inputs):
            if isinstance(item, str):
                yield index, "user", inputs, index
    for index, message in enumerate(body.get("messages") or ()):
        if isinstance(message, dict):
            for holder, key in _texts(message):
                yield index, message.get("role"), holder, key


def _texts(message: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every (holder, key) of a message whose value is text a filter must see."""
    content = message.get("content")
    if isinstance(content, str):
        yield message, "content"
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part, "text"
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            yield function, "arguments"
