"""What a generation records as its answer arrives: tokens, cost, timing, how it ended."""

from decimal import Decimal

from veil.dispatcher.content import CompletionLog
from veil.dispatcher.generation import Generation
from veil.schemas.catalog import DataPolicy, Endpoint, Pricing, Provider
from veil.schemas.chat import RoutingSummary
from veil.schemas.errors import ErrorBody
from veil.schemas.messages import RequestEnvelope, RoutedEndpoint, RoutedRequest

ENDPOINT = Endpoint(
    provider="acme",
    upstream_model="acme-large-2",
    pricing=Pricing(prompt=Decimal("0.000001"), completion=Decimal("0.000002")),
)
PROVIDER = Provider(
    slug="acme", name="Acme AI", data_policy=DataPolicy(training=False, retains_prompts=False)
)
RECEIVED = 1_000.0


def generation(stream: bool = True, prompt: str = "twelve chars") -> Generation:
    envelope = RequestEnvelope(
        generation_id="gen-1-abc",
        account_id="acct-1",
        key_id="key-1",
        reply_subject="_INBOX.gw.1",
        received_at=RECEIVED,
        routing=RoutingSummary(model="acme/large", stream=stream),
    )
    routed = RoutedRequest(
        envelope=envelope, endpoints=[RoutedEndpoint(model="acme/large", provider="acme")]
    )
    gen = Generation(routed, started=RECEIVED)
    gen.body = {"messages": [{"role": "user", "content": prompt}]}
    return gen


def served(stream: bool = True, at: float = RECEIVED + 0.1) -> Generation:
    gen = generation(stream)
    gen.serve(ENDPOINT, PROVIDER, "acme/large", at)
    return gen


def chunk(content: str | None = None, finish: str | None = None, **extra) -> dict:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish, **extra}
    return {"id": "chatcmpl-up-1", "object": "chat.completion.chunk", "choices": [choice]}


def test_the_first_chunk_with_content_sets_the_time_to_first_token():
    gen = served()
    gen.take_chunk(chunk(""), RECEIVED + 0.2)  # the role chunk: no token yet
    gen.take_chunk(chunk("Hel"), RECEIVED + 0.5)
    gen.take_chunk(chunk("lo"), RECEIVED + 0.9)

    assert gen.first_token_at == RECEIVED + 0.5
    assert gen.completion_chars == 5
    assert gen.event().time_to_first_token_ms == 500.0


def test_a_tool_call_delta_counts_as_the_first_token():
    gen = served()
    call = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}
    gen.take_chunk({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}, RECEIVED + 0.3)
    assert gen.first_token_at == RECEIVED + 0.3


def test_the_upstream_id_is_the_first_chunk_s():
    gen = served()
    gen.take_chunk(chunk("a"), RECEIVED + 0.2)
    gen.take_chunk({**chunk("b"), "id": "another"}, RECEIVED + 0.3)
    assert gen.upstream_id == "chatcmpl-up-1"


def test_the_finish_reason_and_the_native_one_come_from_the_chunk_that_ends_it():
    gen = served()
    gen.take_chunk(chunk("hi"), RECEIVED + 0.2)
    gen.take_chunk(chunk(None, "stop", native_finish_reason="end_turn"), RECEIVED + 0.3)
    assert (gen.finish_reason, gen.native_finish_reason) == ("stop", "end_turn")


def test_an_openai_style_finish_reason_is_its_own_native_one():
    gen = served()
    gen.take_chunk(chunk(None, "length"), RECEIVED + 0.3)
    assert (gen.finish_reason, gen.native_finish_reason) == ("length", "length")


def test_a_usage_chunk_is_priced_by_the_serving_endpoint():
    gen = served()
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}

    assert gen.take_chunk(chunk("hi"), RECEIVED + 0.2) is None
    body = gen.take_chunk({"id": "x", "choices": [], "usage": usage}, RECEIVED + 0.3)

    assert body is not None
    assert (body["prompt_tokens"], body["completion_tokens"]) == (1000, 500)
    assert body["cost"] == gen.cost == 0.002  # 1000 x 0.000001 + 500 x 0.000002
    assert "estimated" not in body
    assert not gen.event().tokens_estimated


def test_a_stream_without_usage_is_estimated_from_what_was_seen_and_says_so():
    gen = served()
    gen.take_chunk(chunk("x" * 40), RECEIVED + 0.2)
    body = gen.settle_usage()
    assert (body["prompt_tokens"], body["completion_tokens"]) == (3, 10)  # 12 and 40 chars
    assert body["estimated"] is True
    assert gen.cost == 0.000023  # 3 x 0.000001 + 10 x 0.000002
    assert gen.event().tokens_estimated


def test_a_whole_completion_gives_usage_finish_reason_and_upstream_id():
    gen = served(stream=False)
    completion = {
        "id": "chatcmpl-up-9",
        "choices": [{"index": 0, "message": {"content": "Hi there"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }
    body = gen.take_completion(completion, RECEIVED + 0.4)

    assert body["completion_tokens"] == 2
    assert body["cost"] == gen.cost == 0.000014
    assert (gen.upstream_id, gen.finish_reason) == ("chatcmpl-up-9", "length")
    assert gen.native_finish_reason == "length"
    assert gen.first_token_at == gen.finished_at == RECEIVED + 0.4
    # generated from when the endpoint got the request (served at RECEIVED + 0.1)
    assert round(gen.event().generation_time_ms) == 300


def test_a_whole_completion_without_usage_is_estimated_from_its_text():
    gen = served(stream=False)
    completion = {"choices": [{"index": 0, "message": {"content": "y" * 9}}]}
    body = gen.take_completion(completion, RECEIVED + 0.4)
    assert (body["prompt_tokens"], body["completion_tokens"], body["estimated"]) == (3, 3, True)
    assert gen.upstream_id is None


def test_the_content_log_sees_what_the_client_sees():
    gen = served()
    gen.log = CompletionLog()
    gen.take_chunk(chunk("Hel"), RECEIVED + 0.2)
    gen.take_chunk(chunk("lo", "stop"), RECEIVED + 0.3)
    logged = gen.log.logged()
    assert (logged.content, logged.finish_reason) == ("Hello", "stop")


def test_a_failure_is_recorded_with_its_code():
    gen = generation()
    gen.fail(429)
    event = gen.event()
    assert (event.status, event.error_code) == ("error", 429)


def test_a_stream_failing_midway_ends_as_an_error_with_estimated_usage():
    gen = served()
    gen.take_chunk(chunk("x" * 8), RECEIVED + 0.2)
    body = gen.stream_failed(ErrorBody(code=502, message="the upstream timed out"))
    assert gen.finish_reason == "error"
    assert (body["completion_tokens"], body["estimated"]) == (2, True)


def test_a_cancelled_generation_keeps_the_tokens_seen_so_far():
    gen = served()
    gen.log = CompletionLog()
    gen.take_chunk(chunk("x" * 20), RECEIVED + 0.2)
    gen.cancel()
    event = gen.event()
    assert (event.status, event.finish_reason) == ("cancelled", "cancelled")
    assert (event.tokens_completion, event.tokens_estimated) == (5, True)
    assert event.total_cost > 0
    assert gen.log.finish_reason == "cancelled"


def test_cancelled_before_any_endpoint_answered_costs_nothing():
    gen = generation()
    gen.cancel()
    event = gen.event()
    assert event.status == "cancelled"
    assert (event.tokens_prompt, event.tokens_completion, event.total_cost) == (0, 0, 0.0)
    assert event.provider is None
