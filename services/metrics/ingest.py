"""JetStream -> ClickHouse, exactly once.

Messages are acknowledged only after their batch is in ClickHouse. If ClickHouse is
unavailable they are negatively acknowledged with a delay and wait in the stream.
A message that can never be written (undecodable, or whose values ClickHouse's types
cannot hold) goes to the dead-letter subject and is terminated, so it is not retried
forever. Which failures are the data's fault is decided by the kind of exception:
clickhouse-connect raises DataError/ProgrammingError while serializing bad values,
before anything reaches the engine; anything else means the store is unavailable.
A redelivered event that was already written replaces its row (ReplacingMergeTree
keyed by generation id), so it never counts twice.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from clickhouse_connect.driver.exceptions import DataError, ProgrammingError
from nats.aio.msg import Msg
from pydantic import BaseModel, ValidationError

from veil import telemetry
from veil.sender import BATCH_HEADER, batch_events

log = logging.getLogger(__name__)
E = TypeVar("E", bound=BaseModel)
# Raised while serializing values, before the engine is involved: the data's fault.
DATA_FAULTS = (DataError, ProgrammingError, ValueError, TypeError, OverflowError)


class Ingestor:
    def __init__(self, dead_letter: Callable[[bytes, str], Awaitable[None]], retry_delay: float):
        self.dead_letter = dead_letter
        self.retry_delay = retry_delay
        self.written = 0
        self.unavailable = 0  # batches put back because the store could not take them
        self.dead_lettered = 0

    async def _reject(self, msg: Msg, reason: str) -> None:
        log.error("dead-lettering a message on %s: %s", msg.subject, reason)
        await self.dead_letter(msg.data, reason)
        await msg.term()
        self.dead_lettered += 1
        telemetry.DEAD_LETTERS.inc()

    async def _decode(self, msg: Msg, model: type[E]) -> list[E]:
        """The events of a message: one, or a batch's (veil.sender.BatchingPublisher); an
        undecodable one is dead-lettered alone, its batch's others kept."""
        batched = msg.headers is not None and BATCH_HEADER in msg.headers
        events = []
        for data in batch_events(msg.data) if batched else [msg.data]:
            try:
                events.append(model.model_validate_json(data))
            except ValidationError as exc:
                reason = f"undecodable {model.__name__}: {exc.error_count()} errors"
                if not batched:
                    await self._reject(msg, reason)
                    return []
                await self._reject_event(msg, data, reason)
        return events

    async def ingest(
        self,
        messages: list[Msg],
        model: type[E],
        insert: Callable[[list[E]], Awaitable[None]],
    ) -> None:
        decoded: list[tuple[Msg, list[E]]] = []
        for msg in messages:
            events = await self._decode(msg, model)
            if events:
                decoded.append((msg, events))
            elif msg.headers is not None and BATCH_HEADER in msg.headers:
                await msg.ack()  # every event of it was dead-lettered
        if not decoded:
            return
        try:
            await insert([event for _, events in decoded for event in events])
        except DATA_FAULTS:
            await self._isolate(decoded, insert)
            return
        except Exception as exc:  # noqa: BLE001 - not the data's fault: the store is away
            await self._wait(decoded, exc)
            return
        for msg, _ in decoded:
            await msg.ack()
        written = sum(len(events) for _, events in decoded)
        self.written += written
        telemetry.INSERT_ROWS.labels(model.__name__).observe(written)

    async def _reject_event(self, msg: Msg, data: bytes, reason: str) -> None:
        """One event of a batch can never be written: it alone goes to the dead letters."""
        log.error("dead-lettering an event of a batch on %s: %s", msg.subject, reason)
        await self.dead_letter(data, reason)
        self.dead_lettered += 1
        telemetry.DEAD_LETTERS.inc()

    async def _wait(self, decoded: list[tuple[Msg, list[E]]], exc: Exception) -> None:
        """The store is unavailable: leave the events in JetStream, redelivered later."""
        self.unavailable += 1
        log.warning(
            "ClickHouse unavailable (%s); %d events wait in JetStream",
            type(exc).__name__,
            sum(len(events) for _, events in decoded),
        )
        for msg, _ in decoded:
            await msg.nak(delay=self.retry_delay)

    async def _isolate(self, decoded: list[tuple[Msg, list[E]]], insert) -> None:
        """A value in the batch cannot be stored: write one by one, dead-letter the bad
        (a batch message is acknowledged once each of its events is written or
        dead-lettered)."""
        for position, (msg, events) in enumerate(decoded):
            for event in events:
                try:
                    await insert([event])
                except DATA_FAULTS as exc:
                    reason = f"ClickHouse cannot store it: {str(exc)[:300]}"
                    if len(events) == 1 and (
                        msg.headers is None or BATCH_HEADER not in msg.headers
                    ):
                        await self._reject(msg, reason)
                        break
                    await self._reject_event(msg, event.model_dump_json().encode(), reason)
                    continue
                except Exception as exc:  # noqa: BLE001 - as above: the store is away
                    await self._wait(decoded[position:], exc)
                    return
                self.written += 1
            else:
                await msg.ack()
