"""What the waiting gateway hears about a generation, on its reply subject: a header, then
the completion or chunk JSON encoded once, here, which the gateway writes to its client
as is.

Before the gateway hears how a generation ended (its final reply, its error, or the
error chunk that ends its stream), `commit` makes the generation's record durable (the
dispatcher's outbox): a client is never told of a generation that a crash could then
leave unrecorded.
"""

import time
from collections.abc import AsyncIterable, Awaitable, Callable

import orjson
from faststream.nats import NatsBroker

from veil.bus import publish_framed
from veil.dispatcher.cost import Usage
from veil.dispatcher.embeddings import encode_vectors
from veil.dispatcher.generation import Generation
from veil.dispatcher.upstreams.base import StreamTranslator, UpstreamError, sse_events
from veil.schemas.chunks import Chunk, chunk_body, error_chunk, new_chunk, usage_chunk
from veil.schemas.completions import completion_body
from veil.schemas.errors import ErrorBody
from veil.schemas.messages import ReplyHeader


class Relay:
    def __init__(self, broker: NatsBroker, commit: Callable[[Generation], Awaitable[None]]):
        self.broker = broker
        self.commit = commit

    async def reply(self, subject: str, header: ReplyHeader, payload: bytes = b"") -> None:
        await publish_framed(self.broker.connection, subject, header, payload)

    async def completion(self, gen: Generation, completion: dict) -> None:
        """A whole completion (canonical form) as the final reply."""
        provider, model = gen.server.provider, gen.server.model
        usage = gen.take_completion(completion, time.time())
        completion_body(completion, gen.generation_id, model, provider.name, usage)
        if gen.filter is not None and gen.filter.restoring:
            gen.filter.restore_completion(completion)  # after the prompt log took it
        await self._final(gen, logged=gen.log is not None, payload=orjson.dumps(completion))

    async def embeddings(self, gen: Generation, answer: dict, usage: Usage) -> None:
        """A whole embeddings answer as the final reply, in the encoding the client asked."""
        provider, model = gen.server.provider, gen.server.model
        items = answer["data"]
        priced = gen.take_embeddings(usage, len(items), time.time())
        body = {
            "id": gen.generation_id,
            "object": "list",
            "data": encode_vectors(items, gen.request.get("encoding_format")),
            "model": model,
            "provider": provider.name,
            "usage": priced,
        }
        await self._final(gen, logged=gen.log is not None, payload=orjson.dumps(body))

    async def stream(
        self, gen: Generation, body: AsyncIterable[bytes], translator: StreamTranslator
    ) -> None:
        """An upstream's stream, chunk by chunk, ending with usage (estimated when the
        upstream reported none) and the final header."""
        subject = gen.routed.envelope.reply_subject
        provider, model = gen.server.provider, gen.server.model
        start = ReplyHeader(
            kind="start",
            generation_id=gen.generation_id,
            provider=provider.slug,
            model=model,
            logged=gen.log is not None,
            guardrails=gen.routed.guardrails,
            data_regions=gen.routed.data_regions,
        )
        await self.reply(subject, start)
        gen.stream_started = True
        seq = 0
        async for event, data in sse_events(body):
            for chunk in translator.feed(event, data):
                usage = gen.take_chunk(chunk, time.time())
                chunk_body(chunk, gen.generation_id, model, provider.name)
                if gen.filter is not None and gen.filter.restoring:
                    gen.filter.restore_chunk(chunk)  # after the prompt log took it
                if usage is not None:
                    chunk["usage"] = usage
                seq += 1
                await self._chunk(gen, seq, chunk)
            if translator.finished:
                break
        if not translator.finished:
            raise UpstreamError("upstream stream ended before completing", kind="stream_truncated")
        held = gen.filter.held() if gen.filter is not None else ""
        if held:  # a placeholder's start held back, and no last chunk came to let it out
            tail = new_chunk(gen.generation_id, model, provider.name)
            tail["choices"] = [{"index": 0, "delta": {"content": held}, "finish_reason": None}]
            seq += 1
            await self._chunk(gen, seq, tail)
        if gen.usage is None:
            # No usage from the upstream: estimate it, say so, and still end with usage.
            usage = gen.settle_usage()
            await self._chunk(
                gen, seq + 1, usage_chunk(gen.generation_id, model, provider.name, usage)
            )
        gen.finished_at = time.time()
        await self._final(gen)

    async def failure(self, gen: Generation, error: ErrorBody) -> None:
        """The error reply, or, once the stream started, its last chunk."""
        if gen.stream_started:
            await self.stream_failure(gen, error)
        else:
            await self.error(gen, error)

    async def error(self, gen: Generation, error: ErrorBody) -> None:
        """Nothing was sent yet: the gateway answers the client with this error."""
        if gen.log is not None:
            gen.log.failed(error)
        await self.commit(gen)
        header = ReplyHeader(kind="error", generation_id=gen.generation_id, error=error)
        await self.reply(gen.routed.envelope.reply_subject, header)

    async def stream_failure(self, gen: Generation, error: ErrorBody) -> None:
        """After the stream started, a failure is the last chunk, with finish_reason error."""
        provider, model = gen.server.provider, gen.server.model
        usage = gen.stream_failed(error)
        chunk = error_chunk(gen.generation_id, model, provider.name, error, usage)
        await self.commit(gen)
        await self._chunk(gen, -1, chunk)
        await self._final(gen)

    async def _chunk(self, gen: Generation, seq: int, chunk: Chunk) -> None:
        header = ReplyHeader(kind="chunk", generation_id=gen.generation_id, seq=seq)
        await self.reply(gen.routed.envelope.reply_subject, header, orjson.dumps(chunk))

    async def _final(self, gen: Generation, logged: bool = False, payload: bytes = b"") -> None:
        provider, model = gen.server.provider, gen.server.model
        await self.commit(gen)
        header = ReplyHeader(
            kind="final",
            generation_id=gen.generation_id,
            provider=provider.slug,
            model=model,
            logged=logged,
            guardrails=gen.routed.guardrails,
            data_regions=gen.routed.data_regions,
        )
        await self.reply(gen.routed.envelope.reply_subject, header, payload)
