"""Prompt-log keys: one data key per opted-in account, sealed under the master key.

- The master key is the operator's (`VEIL_MASTER_KEY`, 32 bytes in base64), or one
  veil generates into `<data-dir>/master.key`, readable by its owner only. Only the
  dispatcher (which seals) and metrics (which opens) hold it.
- An account's data key is random, created the first time one of its generations is
  logged, and stored only sealed (AES-256-GCM under the master key) in the KV bucket
  `veil_keyring`.
- Erasure destroys the data key: its KV message is deleted with the server's secure
  erase (the bytes are overwritten in the JetStream file), so every copy of the
  account's records, wherever it lies (JetStream blocks, old ClickHouse parts, a
  backup), cannot be opened any more.

Encryption is `cryptography`'s AES-GCM, with the account and key (or generation) as
associated data, so a sealed value cannot be moved to another account or record.
"""

import base64
import binascii
import contextlib
import os
import secrets
import time
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import (
    APIError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KeyValue

from veil.bus import declare_stream, until_answered
from veil.kvcache import KVCache
from veil.schemas import subjects
from veil.schemas.content import WrappedDataKey

MASTER_KEY_FILE = "master.key"
# A KV bucket (one value per account) whose stream, unlike a default KV bucket's, allows
# deleting a message: deleting one is how the server is made to overwrite a destroyed
# data key's bytes in its file.
KEYRING_STREAM = StreamConfig(
    name=f"KV_{subjects.KV_KEYRING}",
    subjects=[f"$KV.{subjects.KV_KEYRING}.>"],
    storage=StorageType.FILE,
    max_msgs_per_subject=1,
    allow_rollup_hdrs=True,
    allow_direct=True,
    deny_delete=False,
    deny_purge=False,
    discard=DiscardPolicy.NEW,
)
KEY_BYTES = 32
NONCE_BYTES = 12


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def parse_master_key(text: str) -> bytes:
    try:
        key = _unb64(text.strip())
    except (binascii.Error, ValueError):
        raise ValueError("VEIL_MASTER_KEY must be 32 bytes in base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError("VEIL_MASTER_KEY must be 32 bytes in base64")
    return key


def resolve_master_key(data_dir: Path, configured: str | None) -> str:
    """VEIL_MASTER_KEY, else the key in the data directory, generated on first use
    (created exclusively, mode 0600: two processes starting at once agree on one)."""
    if configured:
        parse_master_key(configured)
        return configured.strip()
    path = data_dir / MASTER_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process is writing it this instant
            stored = path.read_text().strip()
            if stored:
                parse_master_key(stored)
                return stored
            time.sleep(0.02)
        raise ValueError(f"{path} is empty") from None
    key = _b64(secrets.token_bytes(KEY_BYTES))
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def seal(key: AESGCM, plaintext: bytes, associated: bytes) -> tuple[str, str]:
    """(nonce, ciphertext), both base64."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return _b64(nonce), _b64(key.encrypt(nonce, plaintext, associated))


def open_sealed(key: AESGCM, nonce: str, sealed: str, associated: bytes) -> bytes:
    """Raises cryptography's InvalidTag if the key, nonce or associated data is wrong."""
    return key.decrypt(_unb64(nonce), _unb64(sealed), associated)


def record_context(account_id: str, generation_id: str) -> bytes:
    """Associated data of a record: it opens only as this account's this generation."""
    return f"veil-content\0{account_id}\0{generation_id}".encode()


def _wrap_context(account_id: str, key_id: str) -> bytes:
    return f"veil-data-key\0{account_id}\0{key_id}".encode()


class Keyring:
    """The data keys of opted-in accounts, mirrored from KV and opened on demand.

    Without a master key (the gateway's case) it can only destroy keys.
    """

    js: JetStreamContext
    kv: KeyValue
    wrapped: KVCache[WrappedDataKey]

    def __init__(self, master_key: str | None = None):
        self._master = AESGCM(parse_master_key(master_key)) if master_key else None
        self._opened: dict[str, AESGCM] = {}  # key id -> data key

    async def bind(self, connection: Client, replicas: int = 1) -> None:
        """Make (or bring to `replicas` copies) and mirror the `veil_keyring` bucket, in
        the service's lifespan."""
        self.js = js = connection.jetstream()
        config = replace(KEYRING_STREAM, num_replicas=replicas)
        await until_answered(lambda: declare_stream(js, config))  # a start mid-election
        self.kv = await until_answered(lambda: js.key_value(subjects.KV_KEYRING))
        self.wrapped = KVCache(self.kv, WrappedDataKey)
        await self.wrapped.start()

    async def stop(self) -> None:
        await self.wrapped.stop()

    def _open(self, account_id: str, wrapped: WrappedDataKey) -> AESGCM:
        key = self._opened.get(wrapped.key_id)
        if key is None:
            assert self._master is not None, "opening data keys needs the master key"
            raw = open_sealed(
                self._master,
                wrapped.nonce,
                wrapped.wrapped,
                _wrap_context(account_id, wrapped.key_id),
            )
            key = self._opened[wrapped.key_id] = AESGCM(raw)
        return key

    def current(self, account_id: str) -> tuple[str, AESGCM] | None:
        """The account's live data key, if it has one (a destroyed key is gone here as
        soon as the KV watch delivers the deletion)."""
        wrapped = self.wrapped.get(account_id)
        if wrapped is None or wrapped.erased_at is not None:
            return None
        return wrapped.key_id, self._open(account_id, wrapped)

    async def for_record(self, account_id: str, since: float) -> tuple[str, AESGCM] | None:
        """The key to seal the record of a generation received at `since`: the account's
        key, created if it has none yet; None if the log was erased after `since` (the
        generation began before the account turned logging off)."""
        existing = self.current(account_id) or (
            await self.wrapped.refresh(account_id) and self.current(account_id)
        )
        if existing:
            return existing
        tombstone = self.wrapped.get(account_id)
        if tombstone is not None and (tombstone.erased_at or 0) >= since:
            return None
        assert self._master is not None, "creating data keys needs the master key"
        key_id = "dk-" + secrets.token_hex(8)
        raw = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        nonce, wrapped = seal(self._master, raw, _wrap_context(account_id, key_id))
        entry = WrappedDataKey(key_id=key_id, nonce=nonce, wrapped=wrapped, created_at=time.time())
        value = entry.model_dump_json().encode()
        try:
            if tombstone is None:
                revision = await self.kv.create(account_id, value)
            else:
                last = self.wrapped.revisions.get(account_id, 0)
                revision = await self.kv.update(account_id, value, last=last)
        except KeyWrongLastSequenceError:  # another dispatcher wrote it first
            await self.wrapped.refresh(account_id)
            return self.current(account_id)
        self.wrapped.apply(account_id, value, revision, False)
        self._opened[key_id] = AESGCM(raw)
        return key_id, self._opened[key_id]

    async def key_for(self, account_id: str, key_id: str) -> AESGCM | None:
        """The data key a record names, if it still exists."""
        current = self.current(account_id)
        if current is None or current[0] != key_id:
            await self.wrapped.refresh(account_id)
            current = self.current(account_id)
        return current[1] if current and current[0] == key_id else None

    async def destroy(self, account_id: str) -> bool:
        """Erase the account's data key: overwrite its stored bytes, leave a tombstone.
        True if there was a key."""
        try:
            entry = await self.kv.get(account_id)
        except KeyNotFoundError:
            entry = None
        destroyed = (
            WrappedDataKey.model_validate_json(entry.value) if entry and entry.value else None
        )
        if entry is not None and entry.revision:
            # First STREAM.MSG.DELETE without no_erase: the server overwrites the message
            # with random bytes in its file. Replacing it first would let the bucket's
            # one-value history drop it without erasing it.
            with contextlib.suppress(NotFoundError, APIError):
                await self.js.delete_msg(f"KV_{subjects.KV_KEYRING}", entry.revision)
        tombstone = WrappedDataKey(created_at=time.time(), erased_at=time.time())
        value = tombstone.model_dump_json().encode()
        revision = await self.kv.put(account_id, value)
        self.wrapped.apply(account_id, value, revision, False)
        if destroyed is None or destroyed.erased_at is not None:
            return False
        self._opened.pop(destroyed.key_id, None)
        return True
