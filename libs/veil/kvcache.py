"""An in-memory mirror of a JetStream KV bucket, kept current by a watcher.

Services read accounts, keys and settings on every request; a local dict makes that
free, and the watcher applies changes made by any replica within milliseconds.
`refresh` reads one key straight from the bucket when a caller needs a revision the
watcher has not delivered yet.
"""

import asyncio
import contextlib
import logging
from typing import Generic, TypeVar

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)


class KVCache(Generic[M]):
    def __init__(self, kv: KeyValue, model: type[M]):
        self.kv = kv
        self.model = model
        self.values: dict[str, M] = {}
        self.revisions: dict[str, int] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._watcher = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name=f"kv-watch-{self.kv._name}")
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._unsubscribe()

    async def _unsubscribe(self) -> None:
        # A watcher's subscription left open holds the connection's drain at shutdown
        # until its timeout (30 s) as soon as an update or heartbeat waits unread in it.
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            with contextlib.suppress(Exception):
                await watcher.stop()

    def get(self, key: str) -> M | None:
        return self.values.get(key)

    def apply(self, key: str, value: bytes | None, revision: int, deleted: bool) -> None:
        if revision < self.revisions.get(key, 0):
            return  # an older update arriving after a fresher direct read
        self.revisions[key] = revision
        if deleted or value is None:
            self.values.pop(key, None)
        else:
            self.values[key] = self.model.model_validate_json(value)

    async def refresh(self, key: str) -> M | None:
        """Read one key from the bucket, bypassing the watcher."""
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return self.values.get(key)
        self.apply(key, entry.value, entry.revision or 0, entry.operation in (KV_DEL, KV_PURGE))
        return self.values.get(key)

    async def put(self, key: str, value: M) -> int:
        encoded = value.model_dump_json().encode()
        revision = await self.kv.put(key, encoded)
        self.apply(key, encoded, revision, False)
        return revision

    async def delete(self, key: str) -> None:
        await self.kv.delete(key)
        self.values.pop(key, None)

    async def _watch(self) -> None:
        while True:
            try:
                self._watcher = watcher = await self.kv.watchall()
                async for entry in watcher:
                    if entry is None:  # the initial values have all arrived
                        self._ready.set()
                        continue
                    deleted = entry.operation in (KV_DEL, KV_PURGE)
                    self.apply(entry.key, entry.value, entry.revision or 0, deleted)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watch on %s failed; restarting it", self.kv._name)
                await self._unsubscribe()
                await asyncio.sleep(1)
