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

from veil import telemetry
from veil.catalog import CatalogIndex
from veil.dispatcher.config import DispatcherSettings
from veil.dispatcher.content import CompletionLog, sealed_record
from veil.dispatcher.embeddings import input_count, usage_of
from veil.dispatcher.filtering import RequestFilter
from veil.dispatcher.generation import Generation, Serving, final_error
from veil.dispatcher.relay import Relay
from veil.dispatcher.upstreams import adapter_for, openai
from veil.dispatcher.upstreams.base import UpstreamError, UpstreamTarget, parse_json, send
from veil.keyring import Keyring
from veil.outbox import Outbox
from veil.schemas import subjects
from veil.schemas.chat import upstream_body
from veil.schemas.content import ContentRecord
from veil.schemas.embeddings import input_texts
from veil.schemas.errors import ErrorBody
from veil.schemas.messages import ProviderAttempt, ReplyHeader, RoutedEndpoint, RoutedRequest

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
        keyring: Keyring | None = None,
    ):
        self.index = index
        self.targets = targets
        self.http: aiohttp.ClientSession  # set by the app's lifespan: one pooled session
        # set by the app's lifespan: where each generation's record waits for JetStream
        self.outbox: Outbox
        self.relay = Relay(broker, self._commit)
        self.settings = settings
        self.keyring = keyring  # prompt logging; None: this dispatcher keeps no content
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
                    await self.relay.reply(subject, accepted)

    async def _run(self, routed: RoutedRequest, raw: bytes | memoryview) -> None:
        gen = Generation(routed)
        if routed.log_content and self.keyring is not None:
            gen.log = CompletionLog()
        try:
            async with asyncio.timeout(self.settings.deadline):
                # The one parse of the body past the gateway (which validated it).
                gen.request = orjson.loads(raw)
                gen.body = upstream_body(gen.request)
                if not await self._filtered_out(gen):
                    await self._try_endpoints(gen)
        except asyncio.CancelledError:
            gen.cancel()
            log.info("generation %s cancelled by the client", gen.generation_id)
        except TimeoutError:
            gen.fail(408)
            await self.relay.failure(
                gen, ErrorBody(code=408, message="The request exceeded its deadline")
            )
        except Exception:
            log.exception("generation %s failed inside the dispatcher", gen.generation_id)
            gen.fail(500)  # recorded as veil's own fault; the client hears of a bad gateway
            await self.relay.failure(gen, ErrorBody(code=502, message="Internal dispatch error"))
        await self._commit(gen)  # a cancelled one: no reply committed it
        for entry in gen.outboxed:  # published until acknowledged, from the outbox
            await self.outbox.send(entry)

    async def _filtered_out(self, gen: Generation) -> bool:
        """Apply the key's content filters to the upstream body (redacting in place);
        True if one blocks the request, which is then answered with a 403 here."""
        routed = gen.routed
        if not routed.content_filters:
            return False
        if "input" in gen.body and input_texts(gen.body) is None:
            # Token ids: no filter can read them, so they cannot pass one.
            gen.fail(400)
            message = "Content filters hold for this key: send the input as text, not token ids"
            await self.relay.error(gen, ErrorBody(code=400, message=message))
            return True
        gen.filter = RequestFilter(routed.content_filters, routed.restore)
        blocked = gen.filter.apply(gen.body)
        if "input" in gen.body:  # a redacted text input is a new string: log what was sent
            gen.request["input"] = gen.body["input"]
        telemetry.count_content_filters(gen.filter.matched)
        if blocked is None:
            return False
        gen.fail(403)
        await self.relay.error(gen, blocked.error())
        return True

    async def _commit(self, gen: Generation) -> None:
        """Write the generation's record to the outbox, with the opted-in account's
        sealed content record: called before the gateway hears how it ended (by the
        relay), so that no crash after that can lose it. Once per generation."""
        if gen.outboxed:
            return
        gen.finished_at = gen.finished_at or time.time()
        if gen.serving_attempt is not None and gen.status == "ok":
            endpoint, status, began = gen.serving_attempt
            gen.attempts.append(self._attempt_record(endpoint, status, None, began))
        entries = []
        if gen.log is not None:
            record = await self._content_record(gen)
            if record is not None:
                payload = record.model_dump_json().encode()
                entries.append(self.outbox.append(subjects.CONTENT, gen.generation_id, payload))
                gen.logged = True
        payload = gen.event().model_dump_json().encode()
        entries.append(self.outbox.append(subjects.GENERATION, gen.generation_id, payload))
        gen.outboxed = entries

    async def _content_record(self, gen: Generation) -> ContentRecord | None:
        """The opted-in account's content record, sealed here. A failure loses the record,
        never the generation."""
        assert gen.log is not None
        assert self.keyring is not None
        serving = gen.served_by
        model = serving.model if serving else gen.routed.endpoints[0].model
        provider = serving.provider.slug if serving else None
        try:
            redacted = gen.filter is not None and bool(gen.filter.redactor.counts)
            return await sealed_record(
                self.keyring, gen.routed, gen.request, gen.log, model, provider, redacted
            )
        except Exception:
            log.exception("could not keep the content record of %s", gen.generation_id)
            return None

    async def _try_endpoints(self, gen: Generation) -> None:
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
                    gen.fail(400)
                    error = ErrorBody(
                        code=400, message=message, metadata=self._failure_metadata(gen)
                    )
                    await self.relay.error(gen, error)
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
                gen.fail(502)
                await self.relay.stream_failure(gen, ErrorBody(code=502, message=message))
                return
        error = final_error(gen.attempts, gen.retry_after)
        error.metadata = {**(error.metadata or {}), **self._failure_metadata(gen)}
        gen.fail(error.code)
        await self.relay.error(gen, error)

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
        if gen.routed.envelope.routing.api_type == "embeddings":
            serving = Serving(endpoint, provider, routed_endpoint.model)
            await self._embed(gen, routed_endpoint, serving, target, began)
            return
        adapter = adapter_for(provider.api)
        stream = gen.routed.envelope.routing.stream
        wire = adapter.build_request(gen.body, endpoint, target, stream)
        async with send(self.http, wire, self._timeout(gen, stream)) as response:
            gen.serving_attempt = (routed_endpoint, response.status, began)
            if stream:
                gen.serve(endpoint, provider, routed_endpoint.model, time.time())
                await self.relay.stream(
                    gen, response.content.iter_any(), adapter.StreamTranslator()
                )
            else:
                completion = adapter.parse_response(parse_json(await response.read()))
                # A whole answer was generated from the moment this endpoint got the
                # request: its generation time (and throughput) is that attempt's.
                gen.serve(endpoint, provider, routed_endpoint.model, began)
                await self.relay.completion(gen, completion)

    async def _embed(
        self,
        gen: Generation,
        routed_endpoint: RoutedEndpoint,
        serving: Serving,
        target: UpstreamTarget,
        began: float,
    ) -> None:
        """An embeddings request to one endpoint: OpenAI's embeddings API, the one every
        provider of embedding models speaks."""
        endpoint, provider = serving.endpoint, serving.provider
        if provider.api != "openai":
            raise UpstreamError(f"the {provider.api} API serves no embeddings", status=None)
        wire = openai.build_embeddings(gen.body, endpoint, target)
        async with send(self.http, wire, self._timeout(gen, False)) as response:
            gen.serving_attempt = (routed_endpoint, response.status, began)
            data = parse_json(await response.read())
        answer = openai.parse_embeddings(data, input_count(gen.body))
        gen.serve(endpoint, provider, serving.model, began)
        await self.relay.embeddings(gen, answer, usage_of(answer, gen.body))

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
