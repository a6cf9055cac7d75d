"""One generation: try the routed endpoints in order, stream or reply, record the event.

Failures before anything reached the client (connection errors, timeouts, 429, 5xx,
malformed answers) move on to the next endpoint; a failure caused by the request
itself is answered, not retried around; a failure after the stream started ends the
stream with an error chunk.
"""

import asyncio
import contextlib
import logging
import time

import aiohttp
import orjson
from faststream.nats import NatsBroker

from veil.bus import publish_framed
from veil.catalog import CatalogIndex
from veil.dispatcher.config import DispatcherSettings
from veil.dispatcher.content import CompletionLog, sealed_record
from veil.dispatcher.cost import (
    Usage,
    cost_of,
    estimate_tokens,
    prompt_length,
    usage_body,
    usage_from,
)
from veil.dispatcher.generation import Generation, final_error
from veil.dispatcher.upstreams import adapter_for
from veil.dispatcher.upstreams.base import (
    UpstreamError,
    UpstreamTarget,
    error_from_status,
    parse_json,
    sse_events,
)
from veil.keyring import Keyring
from veil.schemas.bus import ProviderAttempt, ReplyHeader, RoutedEndpoint, RoutedRequest
from veil.schemas.chat import upstream_body
from veil.schemas.completions import base_chunk, chunk_body, completion_body, error_chunk
from veil.schemas.errors import ErrorBody

log = logging.getLogger(__name__)


# What a failed upstream call raises: aiohttp's errors, and its timeouts, which are
# TimeoutError (a refused connection is ClientConnectorError, not a timeout).
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)


def failure_kind(exc: BaseException) -> str:
    """'timeout' or 'connection_error', as recorded for the attempt."""
    return "timeout" if isinstance(exc, TimeoutError) else "connection_error"


class Dispatcher:
    def __init__(
        self,
        index: CatalogIndex,
        targets: dict[str, UpstreamTarget],
        broker: NatsBroker,
        settings: DispatcherSettings,
        publish_event,
        keyring: Keyring | None = None,
        publish_content=None,
    ):
        self.index = index
        self.targets = targets
        self.http: aiohttp.ClientSession  # set by the app's lifespan: one pooled session
        self.broker = broker
        self.settings = settings
        self.publish_event = publish_event
        self.keyring = keyring  # prompt logging; None: this dispatcher keeps no content
        self.publish_content = publish_content
        self.inflight: dict[str, tuple[asyncio.Task, str]] = {}  # id -> (task, reply subject)

    def start(self, routed: RoutedRequest, body: bytes | memoryview) -> asyncio.Task:
        """Run one generation in its own task (one per request), so a cancel message can
        stop just it. `body` is the request as the client sent it (validated by the
        gateway), parsed here once."""
        generation_id = routed.envelope.generation_id
        task = asyncio.create_task(self._run(routed, body))
        self.inflight[generation_id] = (task, routed.envelope.reply_subject)
        task.add_done_callback(lambda _: self.inflight.pop(generation_id, None))
        return task

    def cancel(self, generation_id: str) -> bool:
        running = self.inflight.get(generation_id)
        if running is None:
            return False
        running[0].cancel()
        return True

    async def heartbeat(self, interval: float) -> None:
        """Tell each waiting gateway, every interval, that its generation is still being
        worked on: a gateway that stops hearing this knows its dispatcher died."""
        while True:
            await asyncio.sleep(interval)
            for generation_id, (_, subject) in list(self.inflight.items()):
                with contextlib.suppress(Exception):
                    accepted = ReplyHeader(kind="accepted", generation_id=generation_id)
                    await self._reply(subject, accepted)

    async def _reply(self, subject: str, header: ReplyHeader, payload: bytes = b"") -> None:
        """A reply to the gateway: the header, then the completion or chunk JSON encoded
        once, here, which the gateway writes to its client as is."""
        await publish_framed(self.broker.connection, subject, header, payload)

    async def _run(self, routed: RoutedRequest, raw: bytes | memoryview) -> None:
        gen = Generation(routed)
        if routed.log_content and self.keyring is not None:
            gen.log = CompletionLog()
        subject = routed.envelope.reply_subject
        try:
            async with asyncio.timeout(self.settings.deadline):
                # The one parse of the body past the gateway (which validated it).
                gen.request = orjson.loads(raw)
                gen.body = upstream_body(gen.request)
                await self._try_endpoints(gen)
        except asyncio.CancelledError:
            gen.status, gen.finish_reason = "cancelled", "cancelled"
            if gen.log is not None:
                gen.log.finish_reason = "cancelled"  # with what was produced so far
            if gen.usage is None and gen.served_by is not None:
                gen.usage = self._estimated_usage(gen)  # the tokens seen so far
                gen.cost = cost_of(gen.usage, gen.served_by[0].pricing)
            log.info("generation %s cancelled by the client", gen.generation_id)
        except TimeoutError:
            gen.status, gen.error_code = "error", 408
            error = ErrorBody(code=408, message="The request exceeded its deadline")
            await self._fail(gen, subject, error)
        except Exception:
            log.exception("generation %s failed inside the dispatcher", gen.generation_id)
            gen.status, gen.error_code = "error", 500
            await self._fail(gen, subject, ErrorBody(code=502, message="Internal dispatch error"))
        gen.finished_at = gen.finished_at or time.time()
        if gen.log is not None:
            gen.logged = await self._keep_content(gen)
        await self.publish_event(gen.event())  # retried until acknowledged; logs if never

    async def _keep_content(self, gen: Generation) -> bool:
        """The opted-in account's content record, sealed here, published until
        acknowledged. A failure loses the record, never the generation."""
        assert gen.log is not None and self.keyring is not None
        model = gen.served_by[2] if gen.served_by else gen.routed.endpoints[0].model
        provider = gen.served_by[1].slug if gen.served_by else None
        try:
            record = await sealed_record(
                self.keyring, gen.routed, gen.request, gen.log, model, provider
            )
            return record is not None and await self.publish_content(record)
        except Exception:
            log.exception("could not keep the content record of %s", gen.generation_id)
            return False

    async def _fail(self, gen: Generation, subject: str, error: ErrorBody) -> None:
        if gen.stream_started:
            await self._stream_error(gen, subject, error)
        else:
            await self._error_reply(gen, subject, error)

    async def _error_reply(self, gen: Generation, subject: str, error: ErrorBody) -> None:
        if gen.log is not None:
            gen.log.failed(error)
        await self._reply(
            subject, ReplyHeader(kind="error", generation_id=gen.generation_id, error=error)
        )

    async def _try_endpoints(self, gen: Generation) -> None:
        subject = gen.routed.envelope.reply_subject
        for routed_endpoint in gen.routed.endpoints:
            began = time.time()
            try:
                await self._attempt(gen, routed_endpoint, began)
                return
            except UpstreamError as exc:
                status, kind, message = exc.status, exc.kind, str(exc)
                gen.retry_after = exc.retry_after or gen.retry_after
                gen.last_failure = (routed_endpoint.provider, exc.raw)
                if not exc.retryable and not gen.stream_started:
                    # The request itself is at fault: answer it, do not retry around it.
                    gen.attempts.append(self._attempt_record(routed_endpoint, status, kind, began))
                    gen.status, gen.error_code = "error", 400
                    error = ErrorBody(
                        code=400, message=message, metadata=self._failure_metadata(gen)
                    )
                    await self._error_reply(gen, subject, error)
                    return
            except TRANSPORT_ERRORS as exc:
                status, kind = None, failure_kind(exc)
                gen.last_failure = (routed_endpoint.provider, None)
                message = (
                    "the upstream timed out" if kind == "timeout"
                    else f"the upstream connection failed ({type(exc).__name__})"
                )  # fmt: skip
            gen.attempts.append(self._attempt_record(routed_endpoint, status, kind, began))
            if gen.stream_started:  # failed after bytes reached the client: no fallback
                gen.status, gen.error_code = "error", 502
                await self._stream_error(gen, subject, ErrorBody(code=502, message=message))
                return
        gen.status = "error"
        error = final_error(gen.attempts, gen.retry_after)
        error.metadata = {**(error.metadata or {}), **self._failure_metadata(gen)}
        gen.error_code = error.code
        await self._error_reply(gen, subject, error)

    def _failure_metadata(self, gen: Generation) -> dict:
        """OpenRouter's error metadata: the provider that failed last, and what it said."""
        if gen.last_failure is None:
            return {}
        slug, raw = gen.last_failure
        provider = self.index.providers.get(slug)
        return {"provider_name": provider.name if provider else slug, "provider": slug, "raw": raw}

    @staticmethod
    def _attempt_record(
        endpoint: RoutedEndpoint, status: int | None, error: str | None, began: float
    ) -> ProviderAttempt:
        return ProviderAttempt(
            model=endpoint.model,
            provider=endpoint.provider,
            status=status,
            error=error,
            latency_ms=(time.time() - began) * 1000,
        )

    async def _attempt(self, gen: Generation, routed_endpoint: RoutedEndpoint, began: float):
        endpoint = self.index.endpoints[(routed_endpoint.model, routed_endpoint.provider)]
        provider = self.index.providers[routed_endpoint.provider]
        target = self.targets.get(provider.slug)
        if target is None:
            raise UpstreamError("provider is not configured (no base URL or key)")
        adapter = adapter_for(provider.api)
        stream = gen.routed.envelope.routing.stream
        wire = adapter.build_request(gen.body, endpoint, target, stream)
        # Leaving the block releases the connection to the pool, or closes it when the
        # body was not read to its end (a failure, a cancellation): the upstream sees
        # the client leave.
        async with self.http.post(
            wire.url,
            data=orjson.dumps(wire.body),
            params=wire.params or None,
            headers={**wire.headers, "content-type": "application/json"},
            timeout=self._timeout(gen, stream),
            allow_redirects=False,
        ) as response:
            if response.status >= 400:
                raise error_from_status(
                    response.status, await response.read(), response.headers.get("retry-after")
                )
            if stream:
                await self._stream(gen, response, adapter, endpoint, provider, routed_endpoint)
            else:
                await self._complete(gen, response, adapter, endpoint, provider, routed_endpoint)
        gen.attempts.append(self._attempt_record(routed_endpoint, response.status, None, began))

    def _timeout(self, gen: Generation, stream: bool) -> aiohttp.ClientTimeout:
        """Connecting (a free pooled connection or a new one) takes at most
        connect_timeout; a stream may be silent at most first_token_timeout, before its
        first byte and between reads; a whole non-streaming answer may take what is
        left of the deadline."""
        settings = self.settings
        left = max(0.1, settings.deadline - (time.time() - gen.started))
        read = min(settings.first_token_timeout, left) if stream else left
        return aiohttp.ClientTimeout(
            connect=settings.connect_timeout, sock_connect=settings.connect_timeout, sock_read=read
        )

    @staticmethod
    def _estimated_usage(gen: Generation) -> Usage:
        return Usage(
            estimate_tokens(prompt_length(gen.body)),
            estimate_tokens(gen.completion_chars),
            estimated=True,
        )

    async def _complete(self, gen, response, adapter, endpoint, provider, routed_endpoint):
        data = adapter.parse_response(parse_json(await response.read()))
        gen.first_token_at = gen.generating_since = time.time()
        usage = usage_from(data.get("usage"))
        if usage is None:
            text = "".join((c.get("message") or {}).get("content") or "" for c in data["choices"])
            usage = Usage(
                estimate_tokens(prompt_length(gen.body)), estimate_tokens(len(text)), estimated=True
            )
        gen.usage, gen.cost = usage, cost_of(usage, endpoint.pricing)
        gen.served_by = (endpoint, provider, routed_endpoint.model)
        gen.upstream_id = data.get("id") if isinstance(data.get("id"), str) else None
        completion_body(
            data,
            gen.generation_id,
            routed_endpoint.model,
            provider.name,
            usage_body(usage, endpoint.pricing),
        )
        choices = data["choices"]
        if choices:
            gen.finish_reason = choices[0].get("finish_reason")
            gen.native_finish_reason = choices[0].get("native_finish_reason")
        gen.finished_at = time.time()
        if gen.log is not None:
            gen.log.response(data)
        await self._reply(
            gen.routed.envelope.reply_subject,
            ReplyHeader(
                kind="final",
                generation_id=gen.generation_id,
                provider=provider.slug,
                model=routed_endpoint.model,
                logged=gen.log is not None,
            ),
            orjson.dumps(data),
        )

    async def _stream(self, gen, response, adapter, endpoint, provider, routed_endpoint):
        subject = gen.routed.envelope.reply_subject
        translator = adapter.StreamTranslator()
        gen.served_by = (endpoint, provider, routed_endpoint.model)
        gen.generating_since = time.time()
        await self._reply(
            subject,
            ReplyHeader(
                kind="start",
                generation_id=gen.generation_id,
                provider=provider.slug,
                model=routed_endpoint.model,
                logged=gen.log is not None,
            ),
        )
        gen.stream_started = True
        seq = 0
        async for event, data in sse_events(response.content.iter_any()):
            for chunk in translator.feed(event, data):
                if gen.upstream_id is None and isinstance(chunk.get("id"), str):
                    gen.upstream_id = chunk["id"]
                chunk_body(chunk, gen.generation_id, routed_endpoint.model, provider.name)
                if gen.log is not None:
                    gen.log.chunk(chunk)
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    if delta.get("content") or delta.get("tool_calls"):
                        gen.first_token_at = gen.first_token_at or time.time()
                        gen.completion_chars += len(delta.get("content") or "")
                    if choice.get("finish_reason"):
                        gen.finish_reason = choice["finish_reason"]
                        gen.native_finish_reason = choice.get("native_finish_reason")
                usage = usage_from(chunk.get("usage"))
                if usage is not None:
                    gen.usage, gen.cost = usage, cost_of(usage, endpoint.pricing)
                    chunk["usage"] = usage_body(usage, endpoint.pricing)
                seq += 1
                header = ReplyHeader(kind="chunk", generation_id=gen.generation_id, seq=seq)
                await self._reply(subject, header, orjson.dumps(chunk))
            if translator.finished:
                break
        if not translator.finished:
            raise UpstreamError("upstream stream ended before completing", kind="stream_truncated")
        if gen.usage is None:
            # No usage from the upstream: estimate it, say so, and still end with usage.
            gen.usage = self._estimated_usage(gen)
            gen.cost = cost_of(gen.usage, endpoint.pricing)
            chunk = {
                **base_chunk(gen.generation_id, routed_endpoint.model, provider.name),
                "usage": usage_body(gen.usage, endpoint.pricing),
            }
            header = ReplyHeader(kind="chunk", generation_id=gen.generation_id, seq=seq + 1)
            await self._reply(subject, header, orjson.dumps(chunk))
        gen.finished_at = time.time()
        await self._reply(
            subject,
            ReplyHeader(
                kind="final",
                generation_id=gen.generation_id,
                provider=provider.slug,
                model=routed_endpoint.model,
            ),
        )

    async def _stream_error(self, gen: Generation, subject: str, error: ErrorBody) -> None:
        """After the stream started, a failure is the last chunk, with finish_reason error."""
        endpoint, provider, model = gen.served_by  # type: ignore[misc]
        gen.finish_reason = "error"
        if gen.log is not None:
            gen.log.failed(error)
        if gen.usage is None:
            gen.usage = self._estimated_usage(gen)
            gen.cost = cost_of(gen.usage, endpoint.pricing)
        chunk = error_chunk(gen.generation_id, model, provider.name, error)
        chunk["usage"] = usage_body(gen.usage, endpoint.pricing)
        header = ReplyHeader(kind="chunk", generation_id=gen.generation_id, seq=-1)
        await self._reply(subject, header, orjson.dumps(chunk))
        await self._reply(
            subject,
            ReplyHeader(
                kind="final", generation_id=gen.generation_id, provider=provider.slug, model=model
            ),
        )
