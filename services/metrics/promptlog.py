"""The prompt log of opted-in accounts: sealed records in, opened only for their owner.

Records arrive sealed with the account's data key. One whose key no longer exists
(the account turned logging off while it was in flight) is dropped, not stored. A
record is opened here, and only to answer the owning account's management key through
the gateway; `veil sql` sees ciphertext.
"""

from cryptography.exceptions import InvalidTag

from veil.keyring import Keyring, open_sealed, record_context
from veil.metrics.store import ClickHouseStore, continued_after
from veil.schemas.content import (
    ContentDeleted,
    ContentErasure,
    ContentListResult,
    ContentRecord,
    ContentResult,
    ListedRecord,
    LoggedContent,
    OpenedRecord,
)

RECORD = """
SELECT generation_id, created_at, model, provider, key_id, nonce, sealed
FROM content_records FINAL
WHERE account_id = {account:String} AND generation_id = {generation:String}
  AND expires_at > now()
LIMIT 1
"""

EXISTS = """
SELECT 1 FROM content_records
WHERE account_id = {account:String} AND generation_id = {generation:String}
LIMIT 1
"""

LISTING = """
SELECT generation_id AS id, created_at, model, provider, expires_at, length(sealed) AS size
FROM content_records FINAL
WHERE account_id = {account:String} AND expires_at > now() {before}
ORDER BY created_at DESC, generation_id DESC
LIMIT {limit:UInt32}
"""


class PromptLog:
    def __init__(self, store: ClickHouseStore, keyring: Keyring, keep_seconds: float):
        self.store = store
        self.keyring = keyring
        self.keep_seconds = keep_seconds

    async def insert(self, records: list[ContentRecord]) -> None:
        live = [r for r in records if await self.keyring.key_for(r.account_id, r.key_id)]
        if live:
            await self.store.insert_content(live, self.keep_seconds)

    async def erase(self, erasures: list[ContentErasure]) -> None:
        for erasure in erasures:
            await self.store.delete_content(erasure.account_id, erasure.generation_id)

    async def delete(self, account_id: str, generation_id: str) -> ContentDeleted:
        """Erase one record now."""
        found = await self.store.query(EXISTS, {"account": account_id, "generation": generation_id})
        if not found.rows:
            return ContentDeleted(deleted=False)
        await self.store.delete_content(account_id, generation_id)
        return ContentDeleted(deleted=True)

    async def read(self, account_id: str, generation_id: str) -> ContentResult:
        """The opened record, or none (absent, expired or erased)."""
        found = await self.store.query(RECORD, {"account": account_id, "generation": generation_id})
        if not found.rows:
            return ContentResult()
        row = found.rows[0]
        key = await self.keyring.key_for(account_id, row["key_id"])
        if key is None:
            return ContentResult()  # erased: its key is gone
        try:
            plain = open_sealed(
                key, row["nonce"], row["sealed"], record_context(account_id, generation_id)
            )
        except InvalidTag:
            return ContentResult()
        content = LoggedContent.model_validate_json(plain)
        return ContentResult(
            record=OpenedRecord(
                id=row["generation_id"],
                created_at=row["created_at"],
                model=row["model"],
                provider=row["provider"] or None,
                request=content.request,
                completion=content.completion,
                redacted=content.redacted,
            )
        )

    async def listing(
        self, account_id: str, limit: int, before: tuple[str, str] | None
    ) -> ContentListResult:
        """Metadata only, newest first; `before` continues after the last one seen."""
        condition, parameters = continued_after(before)
        parameters.update(account=account_id, limit=limit)
        found = await self.store.query(LISTING.replace("{before}", condition), parameters)
        return ContentListResult(records=[ListedRecord.model_validate(r) for r in found.rows])
