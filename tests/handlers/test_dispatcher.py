"""The dispatcher's FastStream handlers on the in-memory broker: a client's cancellation
stops its generation, and health reports the work in flight.

Routed requests arrive on a plain nats-py queue subscription (`RoutedConsumer`, through
`veil.bus.subscribe_framed`), which TestNatsBroker does not carry: generations
themselves are driven against a real nats-server and the upstream simulator in
tests/integration (test_dispatcher.py, test_chat.py)."""

import asyncio

from faststream.nats import NatsBroker, TestNatsBroker

from veil.catalog import CatalogIndex
from veil.dispatcher.config import DispatcherSettings
from veil.dispatcher.dispatch import Dispatcher
from veil.dispatcher.handlers import build_router
from veil.schemas import subjects
from veil.schemas.messages import CancelGeneration, HealthReply


def dispatcher_and_bus() -> tuple[Dispatcher, NatsBroker]:
    broker = NatsBroker()
    dispatcher = Dispatcher(CatalogIndex.load(), {}, broker, DispatcherSettings())
    broker.include_router(build_router(dispatcher))
    return dispatcher, broker


def generation_in_flight(dispatcher: Dispatcher, generation_id: str) -> asyncio.Task:
    """A generation the dispatcher is working on (an upstream that never answers)."""
    task = asyncio.create_task(asyncio.sleep(3600))
    dispatcher.inflight[generation_id] = (task, "veil.reply.v1.test")
    return task


async def test_a_cancel_stops_that_generation_only():
    dispatcher, broker = dispatcher_and_bus()
    mine = generation_in_flight(dispatcher, "gen-mine")
    other = generation_in_flight(dispatcher, "gen-other")
    async with TestNatsBroker(broker) as bus:
        await bus.publish(CancelGeneration(generation_id="gen-mine"), subjects.CANCEL)
    await asyncio.sleep(0)
    assert mine.cancelled()
    assert not other.done()
    other.cancel()


async def test_a_cancel_for_a_generation_elsewhere_is_ignored():
    dispatcher, broker = dispatcher_and_bus()
    running = generation_in_flight(dispatcher, "gen-here")
    async with TestNatsBroker(broker) as bus:
        await bus.publish(CancelGeneration(generation_id="gen-elsewhere"), subjects.CANCEL)
    await asyncio.sleep(0)
    assert not running.done()
    running.cancel()


async def test_health_counts_generations_in_flight():
    dispatcher, broker = dispatcher_and_bus()
    running = generation_in_flight(dispatcher, "gen-1")
    async with TestNatsBroker(broker) as bus:
        reply = await bus.request(None, subjects.health_subject("dispatcher"))
    health = HealthReply.model_validate_json(reply.body)
    assert health.service == "dispatcher"
    assert health.detail == {"inflight": 1, "callable": 0}
    running.cancel()
