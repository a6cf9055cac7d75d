"""JetStream -> ClickHouse, exactly once.

Messages are acknowledged only after their batch is in ClickHouse. If ClickHouse is
unavailable they are negatively acknowledged with a delay and wait in the stream.
A message that can never be written (undecodable, or rejected by ClickHouse while
ClickHouse is otherwise fine) goes to the dead-letter subject and is terminated, so
it is not retried forever. A redelivered event that was already written replaces its
row (ReplacingMergeTree keyed by generation id), so it never counts twice.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.msg import Msg
from pydantic import BaseModel, ValidationError

from veil.metrics.store import ClickHouseStore

log = logging.getLogger(__name__)
E = TypeVar("E", bound=BaseModel)


class Ingestor:
    def __init__(
        self,
        store: ClickHouseStore,
        dead_letter: Callable[[bytes, str], Awaitable[None]],
        retry_delay: float,
    ):
        self.store = store
        self.dead_letter = dead_letter
        self.retry_delay = retry_delay
        self.written = 0

    async def _reject(self, msg: Msg, reason: str) -> None:
        log.error("dead-lettering a message on %s: %s", msg.subject, reason)
        await self.dead_letter(msg.data, reason)
        await msg.term()

    async def ingest(
        self,
        messages: list[Msg],
        model: type[E],
        insert: Callable[[list[E]], Awaitable[None]],
    ) -> None:
        decoded: list[tuple[Msg, E]] = []
        for msg in messages:
            try:
                decoded.append((msg, model.model_validate_json(msg.data)))
            except ValidationError as exc:
                await self._reject(msg, f"undecodable {model.__name__}: {exc.error_count()} errors")
        if not decoded:
            return
        try:
            await insert([event for _, event in decoded])
        except Exception as exc:
            if not await self.store.ping():
                log.warning(
                    "ClickHouse unavailable (%s); %d events wait in JetStream",
                    type(exc).__name__,
                    len(decoded),
                )
                for msg, _ in decoded:
                    await msg.nak(delay=self.retry_delay)
                return
            await self._isolate(decoded, insert)
            return
        for msg, _ in decoded:
            await msg.ack()
        self.written += len(decoded)

    async def _isolate(self, decoded: list[tuple[Msg, E]], insert) -> None:
        """ClickHouse is up but refused the batch: write one by one, dead-letter the bad."""
        for msg, event in decoded:
            try:
                await insert([event])
            except Exception as exc:
                if not await self.store.ping():
                    await msg.nak(delay=self.retry_delay)
                    continue
                await self._reject(msg, f"ClickHouse refused it: {str(exc).splitlines()[0][:300]}")
                continue
            await msg.ack()
            self.written += 1
