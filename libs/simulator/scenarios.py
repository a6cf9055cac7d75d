"""Models shared by the simulator server, its control API and test clients."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Scenario(BaseModel):
    """How the simulator answers requests that match ``provider`` and ``model``.

    Unknown fields are rejected so a misspelt knob fails loudly instead of
    silently producing a normal completion.

    Streaming details: ``chunk_delay_ms`` is slept before each content chunk;
    ``malformed`` replaces the content chunks with one undecodable ``data:``
    line (the closing events still follow); a ``tool_call`` reports
    ``completion_tokens`` as its output usage.
    """

    model_config = ConfigDict(extra="forbid")

    provider: str = "*"
    model: str | None = None
    latency_ms: int = Field(default=0, ge=0)
    chunk_delay_ms: int = Field(default=0, ge=0)
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: int | None = Field(default=None, ge=0)
    error_message: str = "simulated upstream error"
    malformed: bool = False
    fail_after_chunks: int | None = Field(default=None, ge=0)
    truncate_after_chunks: int | None = Field(default=None, ge=0)
    no_usage: bool = False
    completion_tokens: int = Field(default=12, ge=0)
    reply_text: str | None = None
    # Stream the reply in pieces of this many characters rather than word by word, as
    # tokens split words (a placeholder like [EMAIL_1] arrives in several chunks).
    chunk_chars: int | None = Field(default=None, ge=1)
    tool_call: dict[str, Any] | None = None
    times: int | None = Field(default=None, ge=1)

    @field_validator("tool_call")
    @classmethod
    def _check_tool_call(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value.get("name"), str) or not value["name"]:
            raise ValueError("tool_call needs a non-empty string 'name'")
        arguments = value.get("arguments", {})
        if not isinstance(arguments, dict):
            raise ValueError("tool_call 'arguments' must be an object")
        return {"name": value["name"], "arguments": arguments}

    def matches(self, provider: str, model: str | None) -> bool:
        """True when this scenario applies to a request for ``provider``/``model``."""
        if self.provider != "*" and self.provider != provider:
            return False
        return self.model is None or self.model == model


class RecordedRequest(BaseModel):
    """One request the simulator received, as reported by ``GET /_sim/requests``."""

    id: str
    provider: str
    api: Literal["openai", "anthropic"]
    path: str
    model: str | None = None
    stream: bool = False
    body: dict[str, Any] = Field(default_factory=dict)
    # Whether any credential header arrived; the values are never kept.
    auth_present: bool = False
    # content-type and anthropic-version values, plus "api-key": presence only.
    headers: dict[str, str | bool] = Field(default_factory=dict)
    started_at: float
    # The server wrote its whole response (which may be an error or a deliberate
    # truncation); False for aborted or cancelled responses.
    completed: bool = False
    # The client went away before the response was fully written.
    cancelled: bool = False
    # Content chunks (words or tool-call argument deltas) written to a stream.
    chunks_sent: int = 0
