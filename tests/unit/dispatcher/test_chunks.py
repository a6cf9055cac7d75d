"""The stream chunks clients receive, built in one place for the gateway, the dispatcher
and the adapters' translators; and the adapters' shared interface."""

import orjson
import pytest

from veil.dispatcher.upstreams import ADAPTERS, adapter_for
from veil.dispatcher.upstreams.base import Adapter, UpstreamError
from veil.schemas.chunks import (
    chunk_body,
    delta_choice,
    error_chunk,
    new_chunk,
    sse_event,
    usage_chunk,
)
from veil.schemas.errors import ErrorBody


def test_a_translated_chunk_names_no_provider_until_veil_fills_it():
    chunk = new_chunk("msg_1", "claude-x", choices=[delta_choice({"content": "Hi"})], created=7)
    assert chunk == {
        "id": "msg_1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "claude-x",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
    }

    chunk_body(chunk, "gen-1-abc", "anthropic/claude-x", "Anthropic")

    assert (chunk["id"], chunk["model"], chunk["provider"]) == (
        "gen-1-abc",
        "anthropic/claude-x",
        "Anthropic",
    )
    assert chunk["created"] == 7  # the upstream's time is kept
    choice = chunk["choices"][0]
    assert choice["logprobs"] is None
    assert choice["native_finish_reason"] is None


def test_chunk_body_fills_what_an_upstream_left_out_and_keeps_the_rest():
    upstream = {"id": "chatcmpl-9", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    chunk = chunk_body(upstream, "gen-1-abc", "acme/large", "Acme AI")  # type: ignore[arg-type]
    assert chunk["object"] == "chat.completion.chunk"
    assert isinstance(chunk["created"], int)
    assert chunk["choices"][0]["native_finish_reason"] == "stop"  # already the native one


def test_the_usage_chunk_has_no_choices():
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "estimated": True}
    chunk = usage_chunk("gen-1-abc", "acme/large", "Acme AI", usage)
    assert chunk["choices"] == []
    assert chunk["usage"] == usage
    assert chunk["provider"] == "Acme AI"


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (408, "timeout"),
        (429, "rate_limit_exceeded"),
        (502, "provider_unavailable"),
        (500, "server"),
    ],
)
def test_an_error_chunk_ends_the_stream_with_openrouter_s_error_type(code, error_type):
    error = ErrorBody(code=code, message="went wrong", metadata={"provider": "acme"})
    chunk = error_chunk("gen-1-abc", "acme/large", "Acme AI", error)

    assert chunk["error"] == {
        "code": code,
        "message": "went wrong",
        "metadata": {"provider": "acme", "error_type": error_type},
    }
    assert chunk["choices"] == [
        {
            "index": 0,
            "delta": {},
            "finish_reason": "error",
            "native_finish_reason": None,
            "logprobs": None,
        }
    ]
    assert "usage" not in chunk
    assert error.metadata == {"provider": "acme"}  # the caller's error is not changed


def test_an_error_chunk_carries_the_usage_so_far_when_given():
    error = ErrorBody(code=502, message="cut off")
    chunk = error_chunk("gen-1-abc", "acme/large", "Acme AI", error, {"completion_tokens": 3})
    assert chunk["usage"] == {"completion_tokens": 3}


def test_an_sse_event_is_one_data_line_of_json():
    chunk = usage_chunk("gen-1-abc", "acme/large", "Acme AI", {"total_tokens": 1})
    event = sse_event(chunk)
    assert event.startswith(b"data: ")
    assert event.endswith(b"\n\n")
    assert orjson.loads(event[6:]) == chunk


def test_every_adapter_offers_the_shared_interface():
    assert set(ADAPTERS) == {"openai", "anthropic"}
    for adapter in ADAPTERS.values():
        assert isinstance(adapter, Adapter)
        translator = adapter.StreamTranslator()
        assert translator.finished is False


def test_an_api_style_without_an_adapter_is_an_attempt_failure():
    with pytest.raises(UpstreamError) as failure:
        adapter_for("grpc")
    assert failure.value.retryable
