"""An in-memory mirror of a JetStream KV bucket, kept current by a watcher.

Services read accounts, keys and settings on every request; a local dict makes that
free, and the watcher applies changes made by any replica within milliseconds.
`refresh` reads one key straight from the bucket when a caller needs a revision the
watcher has not delivered yet; `applied_everywhere` waits, after a write, until every
replica's mirror of the bucket has applied it.
"""

import asyncio
import contextlib
import logging
import time
from typing import Generic, TypeVar

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE, KeyValue
from pydantic import BaseModel

from veil.schemas import subjects

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)


class KVCache(Generic[M]):
    def __init__(self, kv: KeyValue, model: type[M]):
        self.kv = kv
        self.model = model
        self.values: dict[str, M] = {}
        self.revisions: dict[str, int] = {}
        self.version = 0  # grows with every change applied: an index over values can tell
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._watcher: KeyValue.KeyWatcher | None = None
        # The last revision the watcher applied: its updates come in the bucket's order,
        # so every earlier change is applied too.
        self.watched = 0
        self._advanced = asyncio.Event()
        self._asked: Subscription | None = None
        self._answering: set[asyncio.Task] = set()

    @property
    def _applied_subject(self) -> str:
        return f"{subjects.KV_APPLIED_PREFIX}.{self.kv._name}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name=f"kv-watch-{self.kv._name}")
        await asyncio.wait_for(self._ready.wait(), timeout=30)
        self._asked = await self.kv._js._nc.subscribe(self._applied_subject, cb=self._on_asked)

    async def stop(self) -> None:
        if self._asked is not None:
            with contextlib.suppress(Exception):
                await self._asked.unsubscribe()
        for task in list(self._answering):
            task.cancel()
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
        self.version += 1
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

    async def update(self, key: str, value: M, last: int) -> int:
        """Write `value` only if the key is still at revision `last` (0: it does not
        exist yet); raises KeyWrongLastSequenceError if another writer came first."""
        encoded = value.model_dump_json().encode()
        if last:
            revision = await self.kv.update(key, encoded, last=last)
        else:
            revision = await self.kv.create(key, encoded)
        self.apply(key, encoded, revision, False)
        return revision

    async def applied_everywhere(self, revision: int, within: float = 1.0) -> bool:
        """After a write: wait until every replica's mirror of this bucket (a gateway's,
        a policy's) has applied `revision`, so the change holds for the next request
        whichever replica serves it. The mirrors are the bucket stream's watchers, so
        JetStream says how many answers to wait for. False if some had not answered
        within `within` seconds (a frozen process, say): the write stands regardless."""
        nc = self.kv._js._nc
        consumers = await self.kv._js.consumers_info(self.kv._stream)
        expected = sum(1 for c in consumers if c.push_bound)
        answered = 0
        done = asyncio.Event()

        async def count(_msg: Msg) -> None:
            nonlocal answered
            answered += 1
            if answered >= expected:
                done.set()

        inbox = nc.new_inbox()
        subscription = await nc.subscribe(inbox, cb=count)
        try:
            await nc.publish(self._applied_subject, str(revision).encode(), reply=inbox)
            if expected:
                await asyncio.wait_for(done.wait(), within)
            return True
        except TimeoutError:
            log.warning(
                "%s: %d of %d mirrors applied revision %d within %g s",
                self.kv._name, answered, expected, revision, within,
            )  # fmt: skip
            return False
        finally:
            await subscription.unsubscribe()

    async def _on_asked(self, msg: Msg) -> None:
        # Answered from a task: waiting here would hold this subscription's queue.
        task = asyncio.create_task(self._answer(msg))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, msg: Msg) -> None:
        try:
            revision = int(msg.data)
        except ValueError:
            return
        deadline = time.monotonic() + 2.0
        while self.watched < revision and time.monotonic() < deadline:
            self._advanced.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._advanced.wait(), deadline - time.monotonic())
        if self.watched >= revision:
            with contextlib.suppress(Exception):
                await msg.respond(b"")

    async def delete(self, key: str) -> int:
        """Delete the key; returns the revision of its delete marker (for
        `applied_everywhere`)."""
        ack = await self.kv._js.publish(f"{self.kv._pre}{key}", headers={KV_OP: KV_DEL})
        self.apply(key, None, ack.seq, True)
        return ack.seq

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
                    if (entry.revision or 0) > self.watched:
                        self.watched = entry.revision or 0
                        self._advanced.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watch on %s failed; restarting it", self.kv._name)
                await self._unsubscribe()
                await asyncio.sleep(1)
