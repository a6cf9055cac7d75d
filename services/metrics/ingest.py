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
        except DATA_FAULTS:
            await self._isolate(decoded, insert)
            return
        except Exception as exc:  # noqa: BLE001 - not the data's fault: the store is away
            await self._wait(decoded, exc)
            return
        for msg, _ in decoded:
            await msg.ack()
        self.written += len(decoded)
        telemetry.INSERT_ROWS.labels(model.__name__).observe(len(decoded))

    async def _wait(self, decoded: list[tuple[Msg, E]], exc: Exception) -> None:
        """The store is unavailable: leave the events in JetStream, redelivered later."""
        self.unavailable += 1
        log.warning(
            "ClickHouse unavailable (%s); %d events wait in JetStream",
            type(exc).__name__,
            len(decoded),
        )
        for msg, _ in decoded:
            await msg.nak(delay=self.retry_delay)

    async def _isolate(self, decoded: list[tuple[Msg, E]], insert) -> None:
        """A value in the batch cannot be stored: write one by one, dead-letter the bad."""
        for position, (msg, event) in enumerate(decoded):
            try:
                await insert([event])
            except DATA_FAULTS as exc:
                await self._reject(msg, f"ClickHouse cannot store it: {str(exc)[:300]}")
                continue
            except Exception as exc:  # noqa: BLE001 - as above: the store is away
                await self._wait(decoded[position:], exc)
                return
            await msg.ack()
            self.written += 1
