"""What the client was told wins: the gateway's verdicts over the dispatcher's events.

When a gateway ends a generation with an error of its own (its dispatcher went silent,
or a NATS restart lost the replies), the dispatcher may still record the generation as
served, or, killed, record nothing. The gateway's verdict then decides the record's
status, error code and finish reason; tokens, cost and attempts stay the dispatcher's.

A verdict and its generation's event reach metrics on two consumers, in either order:
- the event first: the verdict re-inserts the stored row, corrected (ReplacingMergeTree
  keeps the newest insert);
- the verdict first: a provisional row is written from the verdict alone (with the
  oldest version, so any row from the event replaces it), and the verdict is kept in
  memory for a while, so the event, when it comes, is corrected before its insert.
The store runs calls on one worker thread in call order and the verdict is remembered
before its lookup is queued, so an event inserted concurrently is either seen by the
lookup or corrected from memory.
"""

import time
from collections import OrderedDict

from veil.metrics.store import ClickHouseStore
from veil.schemas.messages import GenerationEvent, GenerationVerdict

# Long enough for a dispatcher's event delayed by a NATS restart (it retries for two
# minutes), short enough to stay small.
REMEMBER_SECONDS = 600.0


def corrected(event: GenerationEvent, verdict: GenerationVerdict) -> GenerationEvent:
    return event.model_copy(
        update={
            "status": "error",
            "error_code": verdict.error_code,
            "finish_reason": "error",
            "cancelled": False,
        }
    )


def from_verdict(verdict: GenerationVerdict) -> GenerationEvent:
    """The record of a generation whose dispatcher recorded nothing (yet)."""
    return GenerationEvent(
        generation_id=verdict.generation_id,
        account_id=verdict.account_id,
        key_id=verdict.key_id,
        created_at=verdict.created_at,
        model=verdict.model,
        provider=verdict.provider,
        latency_ms=max(0.0, verdict.decided_at - verdict.created_at) * 1000,
        status="error",
        error_code=verdict.error_code,
        finish_reason="error",
        streamed=verdict.streamed,
    )


class Verdicts:
    def __init__(self, store: ClickHouseStore):
        self.store = store
        self._recent: OrderedDict[str, tuple[float, GenerationVerdict]] = OrderedDict()

    def _remember(self, verdict: GenerationVerdict) -> None:
        now = time.monotonic()
        self._recent[verdict.generation_id] = (now, verdict)
        while self._recent:
            oldest, (noted, _) = next(iter(self._recent.items()))
            if now - noted <= REMEMBER_SECONDS:
                break
            del self._recent[oldest]

    def apply(self, events: list[GenerationEvent]) -> list[GenerationEvent]:
        """Dispatcher events about to be inserted, with any known verdict applied."""
        if not self._recent:
            return events
        return [
            corrected(e, self._recent[e.generation_id][1]) if e.generation_id in self._recent
            else e
            for e in events
        ]  # fmt: skip

    async def insert(self, verdicts: list[GenerationVerdict]) -> None:
        """The verdicts' rows: the stored event corrected, or one made from the verdict."""
        for verdict in verdicts:
            self._remember(verdict)  # before any await: see the module docstring
        stored = await self.store.generation_events(
            [(v.account_id, v.generation_id) for v in verdicts]
        )
        corrections = [corrected(stored[v.generation_id], v) for v in verdicts
                       if v.generation_id in stored]  # fmt: skip
        alone = [from_verdict(v) for v in verdicts if v.generation_id not in stored]
        if corrections:
            await self.store.insert_generations(corrections)
        if alone:
            # Provisional: the dispatcher's event, corrected by the verdict remembered
            # above, replaces it even if that event is being inserted this instant.
            await self.store.insert_generations(alone, provisional=True)
