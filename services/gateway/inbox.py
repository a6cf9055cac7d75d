"""The gateway instance's reply inbox: one queue per in-flight generation.

A plain nats-py subscription decoded with pydantic: every chunk of every stream passes
here, and FastStream's consume path costs several times the decoding itself.
"""

import asyncio
import logging

from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import ValidationError

from veil.schemas.bus import Reply, ReplyMessage

log = logging.getLogger(__name__)


class Inbox:
    def __init__(self, subject: str):
        self.subject = subject
        self.pending: dict[str, asyncio.Queue[Reply]] = {}

    async def start(self, connection: Client) -> None:
        await connection.subscribe(self.subject, cb=self._on_message)

    async def _on_message(self, msg: Msg) -> None:
        try:
            self.deliver(ReplyMessage.model_validate_json(msg.data).reply)
        except ValidationError as exc:  # the model hides the input: no content in the log
            log.error("undecodable reply on %s: %s", self.subject, exc)

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
