"""The gateway instance's reply inbox: one queue per in-flight generation."""

import asyncio

from nats.aio.client import Client

from veil.bus import subscribe_model
from veil.schemas.bus import Reply, ReplyMessage


class Inbox:
    def __init__(self, subject: str):
        self.subject = subject
        self.pending: dict[str, asyncio.Queue[Reply]] = {}

    async def start(self, connection: Client) -> None:
        # Every chunk of every stream passes here: the hot path's plain subscription.
        await subscribe_model(connection, self.subject, ReplyMessage, self._on_reply)

    async def _on_reply(self, message: ReplyMessage) -> None:
        self.deliver(message.reply)

    def open(self, generation_id: str) -> "asyncio.Queue[Reply]":
        queue: asyncio.Queue[Reply] = asyncio.Queue()
        self.pending[generation_id] = queue
        return queue

    def close(self, generation_id: str) -> None:
        self.pending.pop(generation_id, None)

    def deliver(self, reply: Reply) -> None:
        queue = self.pending.get(reply.generation_id)
        if queue is not None:  # replies for a request whose client left are dropped
            queue.put_nowait(reply)
