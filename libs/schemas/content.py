"""Prompt logging: the encrypted content record of an opted-in account's generation.

Only accounts that turned `enable_prompt_logging` on have records; the content itself
(the request as veil received it, the completion as the client received it) is sealed
with the account's data key in the dispatcher and opened only by metrics, to answer
the owning account.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from veil.schemas.queries import Answer


class WrappedDataKey(BaseModel):
    """KV `veil_keyring`, one per opted-in account: its data key, sealed under the
    operator's master key. Destroying this entry is what erases the account's log.

    After an erasure the entry is a tombstone (`erased_at`, no key): a generation that
    was already in flight then is not logged under a fresh key."""

    key_id: str = Field(default="", description="names this key in the records it sealed")
    nonce: str = Field(default="", description="base64 AES-GCM nonce of the wrapping")
    wrapped: str = Field(default="", description="base64 data key sealed under the master key")
    created_at: float
    erased_at: float | None = None


class LoggedCompletion(BaseModel):
    """The completion as the client received it (streamed ones reassembled)."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    error: dict[str, Any] | None = Field(default=None, description="the error the client got")
    vectors: int | None = Field(
        default=None,
        description="embeddings: how many vectors were returned (never the vectors, which "
        "can be inverted back into their text)",
    )


class LoggedContent(BaseModel):
    """The plaintext of a record: only ever inside the dispatcher and metrics, and in
    the answer to the owning account."""

    model_config = ConfigDict(hide_input_in_errors=True)

    request: dict[str, Any] = Field(
        description="messages, tools and parameters as sent upstream (redacted where a "
        "guardrail's content filter redacted them)"
    )
    completion: LoggedCompletion
    redacted: bool = Field(
        default=False, description="content filters replaced entities with placeholders"
    )


class ContentRecord(BaseModel):
    """dispatcher -> metrics on JetStream `veil.content.v1` (stream VEIL_CONTENT, short
    max age): metadata in the clear, content sealed."""

    generation_id: str
    account_id: str
    created_at: float
    model: str
    provider: str | None = None
    key_id: str
    nonce: str = Field(description="base64 AES-GCM nonce")
    sealed: str = Field(description="base64 AES-256-GCM ciphertext of a LoggedContent")


class ContentQuery(BaseModel):
    account_id: str
    generation_id: str


class ContentListQuery(BaseModel):
    account_id: str
    limit: int = Field(default=20, ge=1, le=100)
    before: tuple[str, str] | None = Field(
        default=None, description="(created_at ISO, generation_id) of the last record seen"
    )


class ContentErasure(BaseModel):
    """gateway -> metrics on JetStream `veil.erase.v1`: delete the account's rows (one
    record, or all of them when `generation_id` is None). Durable, so rows go even if
    metrics is down when logging is turned off; the data key is destroyed already."""

    account_id: str
    generation_id: str | None = None
    requested_at: float


class OpenedRecord(BaseModel):
    """metrics -> gateway: a record opened for its owning account (GET /generation/content)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    id: str
    created_at: str = Field(description="ISO 8601, UTC")
    model: str
    provider: str | None = None
    request: dict[str, Any] = Field(
        description="messages, tools and parameters as sent upstream (redacted where a "
        "guardrail's content filter redacted them)"
    )
    completion: LoggedCompletion
    redacted: bool = Field(
        default=False, description="content filters replaced entities with placeholders"
    )


class ContentResult(Answer):
    """The record, or None: absent, expired or erased (its key destroyed)."""

    record: OpenedRecord | None = None


class ContentDeleted(Answer):
    deleted: bool = Field(default=False, description="False: there was no such record")


class ListedRecord(BaseModel):
    """A record's metadata (GET /generation/content/list): never its content."""

    id: str
    created_at: str = Field(description="ISO 8601, UTC")
    model: str
    provider: str
    expires_at: str = Field(description="ISO 8601, UTC: the record is gone after it")
    size: int = Field(description="bytes of ciphertext")


class ContentListResult(Answer):
    records: list[ListedRecord] = []
