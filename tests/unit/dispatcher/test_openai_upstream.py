"""The OpenAI-compatible upstream: the request a provider receives, and what is accepted back."""

import copy
from decimal import Decimal

import orjson
import pytest

from veil.catalog import CatalogIndex
from veil.dispatcher.upstreams import ADAPTERS, adapter_for, openai
from veil.dispatcher.upstreams.base import (
    UpstreamError,
    UpstreamMalformed,
    UpstreamTarget,
    error_from_status,
    parse_json,
)
from veil.schemas.catalog import Endpoint, Pricing

ENDPOINT = Endpoint(
    provider="acme",
    upstream_model="acme-large-2025-01",
    pricing=Pricing(prompt=Decimal("0.000001"), completion=Decimal("0.000002")),
    supported_parameters=("temperature", "max_tokens", "tools", "tool_choice"),
)
TARGET = UpstreamTarget(base_url="https://api.acme.example/v1", api_key="sk-acme-secret")
MESSAGES = [{"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]


def request_body(**extra):
    return {"messages": MESSAGES, **extra}


def test_the_catalog_api_name_selects_this_module():
    assert adapter_for("openai") is openai


def test_unsupported_parameters_are_dropped_and_the_conversation_kept():
    body = request_body(
        temperature=0.3,
        top_k=40,
        logit_bias={"50256": -100},
        tools=TOOLS,
        tool_choice="auto",
    )
    wire = openai.build_request(body, ENDPOINT, TARGET, stream=False)

    assert wire.body["messages"] == MESSAGES
    assert wire.body["tools"] == TOOLS
    assert wire.body["tool_choice"] == "auto"
    assert wire.body["temperature"] == 0.3
    assert "top_k" not in wire.body
    assert "logit_bias" not in wire.body


def test_tools_are_kept_even_where_the_endpoint_lists_no_parameters():
    bare = ENDPOINT.model_copy(update={"supported_parameters": ()})
    wire = openai.build_request(
        request_body(tools=TOOLS, temperature=1), bare, TARGET, stream=False
    )
    assert wire.body["tools"] == TOOLS
    assert "temperature" not in wire.body


def test_the_provider_receives_its_own_model_id():
    body = request_body(model="acme/large")
    wire = openai.build_request(body, ENDPOINT, TARGET, stream=False)
    assert wire.body["model"] == "acme-large-2025-01"


def test_streaming_request_asks_for_usage():
    wire = openai.build_request(request_body(), ENDPOINT, TARGET, stream=True)
    assert wire.body["stream"] is True
    assert wire.body["stream_options"] == {"include_usage": True}


def test_non_streaming_request_carries_no_stream_options():
    body = request_body(stream=False, stream_options={"include_usage": True})
    wire = openai.build_request(body, ENDPOINT, TARGET, stream=False)
    assert wire.body["stream"] is False
    assert "stream_options" not in wire.body


def test_building_a_request_leaves_the_canonical_body_intact():
    # The same body is reused for the next endpoint when this one fails.
    body = request_body(temperature=0.3, top_k=40, stream_options={"include_usage": False})
    before = copy.deepcopy(body)
    openai.build_request(body, ENDPOINT, TARGET, stream=True)
    openai.build_request(body, ENDPOINT, TARGET, stream=False)
    assert body == before


@pytest.mark.parametrize(
    "base_url", ["https://api.acme.example/v1", "https://api.acme.example/v1/"]
)
def test_url_is_joined_without_a_double_slash(base_url):
    target = UpstreamTarget(base_url=base_url, api_key="k")
    wire = openai.build_request(request_body(), ENDPOINT, target, stream=False)
    assert wire.url == "https://api.acme.example/v1/chat/completions"


def test_bearer_authorization_and_static_headers():
    target = UpstreamTarget(
        base_url="https://api.acme.example/v1",
        api_key="sk-acme-secret",
        headers={"x-title": "veil"},
    )
    wire = openai.build_request(request_body(), ENDPOINT, target, stream=False)
    assert wire.headers == {"authorization": "Bearer sk-acme-secret", "x-title": "veil"}


def test_api_key_header_style_sends_the_bare_key():
    target = UpstreamTarget(
        base_url="https://acme.openai.azure.example/openai/deployments/large",
        api_key="azure-secret",
        auth_header="api-key",
        query={"api-version": "2024-10-21"},
    )
    wire = openai.build_request(request_body(), ENDPOINT, target, stream=False)
    assert wire.headers == {"api-key": "azure-secret"}
    assert "authorization" not in wire.headers
    assert wire.params == {"api-version": "2024-10-21"}


def test_without_query_parameters_none_are_sent():
    wire = openai.build_request(request_body(), ENDPOINT, TARGET, stream=False)
    assert wire.params == {}


def test_x_api_key_header_style():
    target = UpstreamTarget(base_url="https://x.example", api_key="k1", auth_header="x-api-key")
    assert target.auth_headers() == {"x-api-key": "k1"}


def test_parse_response_accepts_a_completion():
    completion = {
        "id": "chatcmpl-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
    }
    assert openai.parse_response(completion) == completion


@pytest.mark.parametrize(
    "data",
    [
        {"id": "chatcmpl-1", "object": "chat.completion"},
        {"choices": None},
        {"choices": {"0": {}}},
        ["choices"],
        "ok",
        None,
    ],
)
def test_parse_response_rejects_a_body_without_choices(data):
    with pytest.raises(UpstreamMalformed) as caught:
        openai.parse_response(data)
    assert caught.value.kind == "malformed"
    assert caught.value.retryable is True
    assert "malformed upstream response" in str(caught.value)


def test_parse_json_rejects_invalid_json():
    with pytest.raises(UpstreamMalformed):
        parse_json(b"<html>Bad gateway</html>")


def test_stream_translator_passes_chunks_until_done():
    translator = openai.StreamTranslator()
    chunk = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}
    usage_chunk = {"id": "c1", "choices": [], "usage": {"prompt_tokens": 1}}

    assert translator.feed(None, orjson.dumps(chunk)) == [chunk]
    assert translator.feed(None, orjson.dumps(usage_chunk)) == [usage_chunk]
    assert translator.finished is False
    assert translator.feed(None, b"[DONE]") == []
    assert translator.finished is True


def test_stream_translator_rejects_invalid_json():
    translator = openai.StreamTranslator()
    with pytest.raises(UpstreamMalformed):
        translator.feed(None, b'{"choices": [')
    assert translator.finished is False


def test_stream_translator_rejects_a_chunk_without_choices():
    with pytest.raises(UpstreamMalformed, match="chunk without choices"):
        openai.StreamTranslator().feed(None, b'{"id": "c1"}')


@pytest.mark.parametrize("status", [400, 413, 422])
def test_errors_caused_by_the_request_are_not_retried(status):
    error = error_from_status(status, b'{"error": {"message": "context too long"}}')
    assert error.retryable is False
    assert error.status == status


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 502, 503])
def test_provider_side_errors_are_retried_elsewhere(status):
    error = error_from_status(status, b"")
    assert error.retryable is True
    assert error.status == status
    assert str(error) == f"upstream answered {status}"


def test_error_message_includes_the_upstream_error_message():
    error = error_from_status(429, b'{"error": {"message": "Rate limit reached", "type": "x"}}')
    assert isinstance(error, UpstreamError)
    assert str(error) == "upstream answered 429: Rate limit reached"


def test_error_message_read_from_a_top_level_message():
    error = error_from_status(503, b'{"message": "overloaded"}')
    assert str(error) == "upstream answered 503: overloaded"


@pytest.mark.parametrize(
    "body", [b"<html>503</html>", b'{"error": "busy"}', b"[1, 2]", b'"text"', b"null"]
)
def test_error_without_a_readable_message_still_names_the_status(body):
    assert str(error_from_status(500, body)) == "upstream answered 500"


def test_every_api_style_of_the_default_catalog_has_an_adapter():
    styles = {p.api for p in CatalogIndex.load().providers.values()}
    assert styles - set(ADAPTERS) == set()
