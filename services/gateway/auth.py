"""Who is calling: the operator's admin key, or an account's management or inference key."""

import hmac
import time
from dataclasses import dataclass, field
from typing import Literal

from fastapi import Request

from veil.keys import hash_key, is_valid_id
from veil.kvcache import KVCache
from veil.schemas.accounts import KeyKind, KeyRecord
from veil.schemas.errors import VeilError


@dataclass(frozen=True)
class AdminCaller:
    """The operator's admin key: it belongs to no account, and names one per request."""

    kind: Literal["admin"] = "admin"
    can_manage: bool = True

    def account_for(self, requested: str | None) -> str:
        """The account a request is about: the admin must name it (400 otherwise).

        A named id must be well formed (400 naming it); whether it exists is
        `GatewayState.account_for`'s question."""
        if requested is not None:
            require_id("account", "acct", requested)
        if not requested:
            raise VeilError(400, "The admin key must name an account with ?account_id=")
        return requested


@dataclass(frozen=True)
class KeyCaller:
    """An account's management or inference key, as stored."""

    record: KeyRecord = field(compare=False)

    @property
    def kind(self) -> KeyKind:
        return self.record.kind

    @property
    def account_id(self) -> str:
        return self.record.account_id

    @property
    def key_id(self) -> str:
        return self.record.id

    @property
    def can_manage(self) -> bool:
        return self.record.kind == "management"

    def account_for(self, requested: str | None) -> str:
        """A key acts on its own account only (403 for another; 400 for a malformed id)."""
        if requested is not None:
            require_id("account", "acct", requested)
        if requested and requested != self.account_id:
            raise VeilError(403, "A key can only act on its own account")
        return self.account_id


Caller = AdminCaller | KeyCaller


def require_id(kind: str, prefix: str, value: str) -> None:
    """400 for a malformed id, before it is used as a KV key or compared with anything."""
    if not is_valid_id(prefix, value):
        shown = value if len(value) <= 80 else value[:80] + "..."
        raise VeilError(
            400,
            f"Invalid {kind} id {shown!r}: {kind} ids look like {prefix}-<hex>",
            {"invalid_id": shown},
        )


class Authenticator:
    def __init__(self, keys: KVCache[KeyRecord], admin_key: str):
        self.keys = keys
        self._admin_hash = hash_key(admin_key)

    def caller(self, request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise VeilError(401, "Missing API key: send Authorization: Bearer <key>")
        digest = hash_key(token.strip())
        if hmac.compare_digest(digest, self._admin_hash):
            return AdminCaller()
        record = self.keys.get(digest)
        if record is None:
            raise VeilError(401, "Invalid or revoked API key")
        # OpenRouter answers a disabled or expired key with 401, like an unknown one.
        if record.disabled:
            raise VeilError(401, "This API key is disabled")
        if record.expires_at is not None and record.expires_at <= time.time():
            raise VeilError(401, "This API key has expired")
        return KeyCaller(record)
