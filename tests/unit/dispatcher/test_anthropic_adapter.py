"""The Anthropic Messages upstream: the request Anthropic receives, and what the client gets back.

Responses come from recorded wire fixtures (fixtures/anthropic/) and from the simulator's
Messages endpoint over a real socket.
"""

import copy
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from veil.catalog import CatalogIndex
from veil.dispatcher.targets import upstream_targets
from veil.dispatcher.upstreams import adapter_for, anthropic
from veil.dispatcher.upstreams.base import (
    UpstreamError,
    UpstreamMalformed,
    UpstreamTarget,
    WireRequest,
    sse_events,
)
from veil.schemas.catalog import Endpoint, Pricing

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"

ENDPOINT = Endpoint(
    provider="anthropic",
    upstream_model="claude-3-5-sonnet-20241022",
    pricing=Pricing(prompt=Decimal("0.000003"), completion=Decimal("0.000015")),
    max_completion_tokens=8192,
    supported_parameters=("temperature", "top_p", "top_k", "max_tokens", "stop", "tools"),
)
TARGET = UpstreamTarget(
    base_url="https://api.anthropic.com/v1",
    api_key="sk-ant-secret",
    auth_header="x-api-key",
    headers={"anthropic-version": "2023-06-01"},
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        },
    }
]


def build(body: dict[str, Any], endpoint: Endpoint = ENDPOINT, stream: bool = False) -> dict:
    return anthropic.build_request(body, endpoint, TARGET, stream).body


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def recorded_message(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    """A body as the socket might deliver it: in pieces that split lines anywhere."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def recorded_events(name: str, size: int = 1 << 16) -> list[tuple[str | None, bytes]]:
    """The fixture's events, split by the same SSE reader the dispatcher uses."""
    body = (FIXTURES / name).read_bytes()
    return [event async for event in sse_events(pieces(body, size))]


def translate(events: list[tuple[str | None, bytes]]) -> tuple[list[dict], bool]:
    translator = anthropic.StreamTranslator()
    chunks = [chunk for event, data in events for chunk in translator.feed(event, data)]
    return chunks, translator.finished


def streamed_text(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def streamed_tool_calls(chunks: list[dict]) -> dict[int, dict[str, Any]]:
    """Tool-call deltas assembled the way OpenAI clients do: by index."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for delta in choice["delta"].get("tool_calls") or ():
                call = calls.setdefault(delta["index"], {"arguments": ""})
                call.update({k: delta[k] for k in ("id", "type") if k in delta})
                function = delta.get("function") or {}
                if "name" in function:
                    call["name"] = function["name"]
                call["arguments"] += function.get("arguments", "")
    return calls


def finish_reasons(chunks: list[dict]) -> list[str]:
    """Every finish_reason set in the stream: a client expects exactly one."""
    return [
        choice["finish_reason"]
        for chunk in chunks
        for choice in chunk["choices"]
        if choice["finish_reason"] is not None
    ]


# --- the request Anthropic receives --------------------------------------------------


def test_the_catalog_api_name_selects_this_module():
    assert adapter_for("anthropic") is anthropic


def test_the_default_catalog_sends_the_key_and_version_headers():
    index = CatalogIndex.load()
    target = upstream_targets(index.catalog, "live", None, {"anthropic": "sk-ant-secret"})[
        "anthropic"
    ]
    wire = anthropic.build_request({"messages": [user("hi")]}, ENDPOINT, target, stream=False)
    assert wire.url == "https://api.anthropic.com/v1/messages"
    assert wire.headers == {"x-api-key": "sk-ant-secret", "anthropic-version": "2023-06-01"}
    assert "authorization" not in wire.headers


def test_the_version_header_is_added_when_the_catalog_gives_none():
    target = UpstreamTarget(
        base_url="https://proxy.example/v1/", api_key="k", auth_header="x-api-key"
    )
    wire = anthropic.build_request({"messages": [user("hi")]}, ENDPOINT, target, stream=False)
    assert wire.url == "https://proxy.example/v1/messages"
    assert wire.headers["anthropic-version"] == "2023-06-01"


def test_a_catalog_version_header_is_not_overridden():
    target = UpstreamTarget(
        base_url="https://api.anthropic.com/v1",
        api_key="k",
        auth_header="x-api-key",
        headers={"anthropic-version": "2099-01-01"},
    )
    wire = anthropic.build_request({"messages": [user("hi")]}, ENDPOINT, target, stream=False)
    assert wire.headers["anthropic-version"] == "2099-01-01"


def test_the_provider_receives_its_model_id_and_the_stream_switch():
    body = {"messages": [user("hi")], "model": "anthropic/claude-3.5-sonnet"}
    assert build(body)["model"] == "claude-3-5-sonnet-20241022"
    assert build(body, stream=True)["stream"] is True
    assert build(body, stream=False)["stream"] is False


def test_system_and_developer_messages_become_the_system_prompt():
    body = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            user("hi"),
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            user("what time is it"),
        ]
    }
    wire = build(body)
    assert wire["system"] == "You are terse.\n\nAnswer in French."
    assert all(m["role"] != "system" for m in wire["messages"])
    assert [b["text"] for b in wire["messages"][0]["content"]] == ["hi", "what time is it"]


def test_without_a_system_message_no_system_is_sent():
    assert "system" not in build({"messages": [user("hi")]})


def test_consecutive_turns_of_one_role_are_merged_so_roles_alternate():
    body = {
        "messages": [
            user("first"),
            user("second"),
            {"role": "assistant", "content": "one"},
            {"role": "assistant", "content": [{"type": "text", "text": "two"}]},
            user("third"),
        ]
    }
    messages = build(body)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == [
        {"type": "text", "text": "first"},
        {"type": "text", "text": "second"},
    ]
    assert [b["text"] for b in messages[1]["content"]] == ["one", "two"]


def test_empty_text_is_not_sent_as_a_block():
    # Anthropic rejects empty text blocks; an assistant turn with only tool calls has "".
    body = {"messages": [user("hi"), {"role": "assistant", "content": ""}, user("again")]}
    messages = build(body)["messages"]
    assert messages == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}],
        }
    ]


def test_tool_calls_and_results_round_trip():
    # The client replays Anthropic's own tool call, as veil returned it, with two results.
    completion = anthropic.parse_response(recorded_message("message_tool_use.json"))
    assistant = completion["choices"][0]["message"]
    body = {
        "messages": [
            user("Weather in SF?"),
            assistant,
            {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "15°C"},
            {
                "role": "tool",
                "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
                "content": [{"type": "text", "text": "light rain"}],
            },
            user("And tomorrow?"),
        ],
        "tools": TOOLS,
    }
    messages = build(body)["messages"]

    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == recorded_message("message_tool_use.json")["content"]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15°C"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
            "content": [{"type": "text", "text": "light rain"}],
        },
        {"type": "text", "text": "And tomorrow?"},
    ]


def test_tool_call_ids_are_made_acceptable_to_anthropic_on_both_sides():
    call = {"id": "functions.lookup:0", "type": "function", "function": {"name": "lookup"}}
    body = {
        "messages": [
            user("go"),
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "functions.lookup:0", "content": "ok"},
        ]
    }
    messages = build(body)["messages"]
    assert messages[1]["content"][0]["id"] == "functions_lookup_0"
    assert messages[2]["content"][0]["tool_use_id"] == "functions_lookup_0"


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", None])
def test_tool_call_arguments_that_are_not_an_object_replay_as_an_empty_input(arguments):
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    body = {"messages": [user("go"), {"role": "assistant", "tool_calls": [call]}]}
    assert build(body)["messages"][1]["content"][0]["input"] == {}


def test_image_parts_become_image_blocks():
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare these"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                ],
            }
        ]
    }
    assert build(body)["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_cache_control_on_a_text_part_is_kept():
    part = {"type": "text", "text": "a long document", "cache_control": {"type": "ephemeral"}}
    body = {"messages": [{"role": "user", "content": [part]}]}
    assert build(body)["messages"][0]["content"] == [part]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "data:image/svg+xml,%3Csvg%3E"}},
        {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
    ],
)
def test_content_anthropic_cannot_take_fails_over_to_the_next_endpoint(part):
    body = {"messages": [{"role": "user", "content": [part]}]}
    with pytest.raises(UpstreamError, match="Anthropic API cannot take") as caught:
        build(body)
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ({"temperature": 1.7}, {"temperature": 1.0}),
        ({"temperature": -0.5}, {"temperature": 0.0}),
        ({"temperature": 0.3}, {"temperature": 0.3}),
        ({"top_p": 0.9, "top_k": 40}, {"top_p": 0.9, "top_k": 40}),
        ({"stop": "END"}, {"stop_sequences": ["END"]}),
        ({"stop": ["END", "\n\nHuman:"]}, {"stop_sequences": ["END", "\n\nHuman:"]}),
    ],
)
def test_sampling_parameters_are_renamed_and_clamped(given, sent):
    wire = build({"messages": [user("hi")], **given})
    assert {k: wire[k] for k in sent} == sent


def test_parameters_the_endpoint_does_not_list_are_dropped():
    narrow = ENDPOINT.model_copy(update={"supported_parameters": ("temperature",)})
    body = {
        "messages": [user("hi")],
        "temperature": 0.2,
        "top_k": 40,
        "stop": "END",
        "user": "end-user-7",
    }
    wire = build(body, narrow)
    assert wire["temperature"] == 0.2
    assert {"top_k", "stop_sequences", "stop", "metadata", "user"}.isdisjoint(wire)


def test_parameters_without_an_anthropic_equivalent_are_never_sent():
    wide = ENDPOINT.model_copy(
        update={"supported_parameters": ("seed", "frequency_penalty", "logit_bias")}
    )
    body = {"messages": [user("hi")], "seed": 7, "frequency_penalty": 0.5, "logit_bias": {}}
    assert set(build(body, wide)) == {"model", "max_tokens", "messages", "stream"}


def test_the_user_id_goes_into_metadata_where_the_endpoint_lists_it():
    with_user = ENDPOINT.model_copy(update={"supported_parameters": ("user",)})
    wire = build({"messages": [user("hi")], "user": "end-user-7"}, with_user)
    assert wire["metadata"] == {"user_id": "end-user-7"}


def test_function_tools_become_anthropic_tools():
    wire = build({"messages": [user("hi")], "tools": TOOLS})
    assert wire["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather in a city",
            "input_schema": TOOLS[0]["function"]["parameters"],
        }
    ]
    assert "tool_choice" not in wire


def test_a_tool_without_parameters_gets_an_empty_object_schema():
    tools = [{"type": "function", "function": {"name": "now"}}]
    wire = build({"messages": [user("hi")], "tools": tools})
    assert wire["tools"] == [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]


def test_tools_are_kept_even_where_the_endpoint_lists_no_parameters():
    bare = ENDPOINT.model_copy(update={"supported_parameters": ()})
    wire = build({"messages": [user("hi")], "tools": TOOLS, "tool_choice": "required"}, bare)
    assert [t["name"] for t in wire["tools"]] == ["get_weather"]
    assert wire["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice(choice, sent):
    wire = build({"messages": [user("hi")], "tools": TOOLS, "tool_choice": choice})
    assert wire["tool_choice"] == sent


def test_no_tool_choice_is_sent_without_tools():
    assert "tool_choice" not in build({"messages": [user("hi")], "tool_choice": "auto"})


@pytest.mark.parametrize(
    ("given", "endpoint_max", "sent"),
    [
        ({"max_tokens": 300}, 8192, 300),
        ({"max_completion_tokens": 200}, 8192, 200),
        ({}, 8192, 8192),
        ({}, None, 4096),
    ],
)
def test_max_tokens_is_always_sent(given, endpoint_max, sent):
    # Required by Anthropic, and read even where the endpoint does not list it.
    endpoint = ENDPOINT.model_copy(
        update={"max_completion_tokens": endpoint_max, "supported_parameters": ()}
    )
    assert build({"messages": [user("hi")], **given}, endpoint)["max_tokens"] == sent


def test_building_a_request_leaves_the_canonical_body_intact():
    # The same body is reused for the next endpoint when this one fails.
    body = {
        "messages": [
            {"role": "system", "content": "terse"},
            user("a"),
            user("b"),
            {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"},
        ],
        "tools": TOOLS,
        "temperature": 1.9,
        "stop": "END",
    }
    before = copy.deepcopy(body)
    build(body, stream=True)
    build(body)
    assert body == before


def test_a_request_anthropic_would_refuse_is_answered_without_echoing_the_prompt():
    body = {"messages": [user("my secret prompt")], "temperature": "hot"}
    with pytest.raises(UpstreamError) as caught:
        build(body)
    assert caught.value.status == 400
    assert caught.value.retryable is False
    assert "temperature" in str(caught.value)
    assert "secret" not in str(caught.value)
    assert "hot" not in str(caught.value)


# --- a whole message back as a chat.completion ----------------------------------------


def test_a_text_message_becomes_a_chat_completion():
    completion = anthropic.parse_response(recorded_message("message_text.json"))
    assert completion["id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert completion["object"] == "chat.completion"
    assert isinstance(completion["created"], int)
    assert completion["model"] == "claude-3-5-sonnet-20241022"
    (choice,) = completion["choices"]
    assert choice["message"] == {"role": "assistant", "content": "The capital of France is Paris."}
    assert choice["finish_reason"] == "stop"


def test_cached_input_counts_as_prompt_tokens_and_cache_reads_as_cached():
    completion = anthropic.parse_response(recorded_message("message_text.json"))
    assert completion["usage"] == {
        "prompt_tokens": 21 + 1200 + 300,
        "completion_tokens": 10,
        "total_tokens": 1531,
        "prompt_tokens_details": {"cached_tokens": 300},
    }
    # OpenRouter's native_finish_reason is Anthropic's own stop reason
    assert completion["choices"][0]["native_finish_reason"] == "end_turn"


def test_a_tool_use_message_becomes_tool_calls():
    completion = anthropic.parse_response(recorded_message("message_tool_use.json"))
    (choice,) = completion["choices"]
    message = choice["message"]
    assert message["content"] == "I'll check the current weather in San Francisco for you."
    (call,) = message["tool_calls"]
    assert call["id"] == "toolu_01A09q90qw90lq917835lq9"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {
        "location": "San Francisco, CA",
        "unit": "celsius",
    }
    assert choice["finish_reason"] == "tool_calls"
    assert completion["usage"] == {
        "prompt_tokens": 384,
        "completion_tokens": 72,
        "total_tokens": 456,
    }


def test_a_message_with_only_tool_use_has_no_content():
    message = recorded_message("message_tool_use.json")
    message["content"] = message["content"][1:]
    reply = anthropic.parse_response(message)["choices"][0]["message"]
    assert reply["content"] is None
    assert len(reply["tool_calls"]) == 1


def test_blocks_veil_does_not_translate_are_skipped():
    message = recorded_message("message_text.json")
    message["content"].insert(0, {"type": "thinking", "thinking": "hmm", "signature": "sig"})
    reply = anthropic.parse_response(message)["choices"][0]["message"]
    assert reply["content"] == "The capital of France is Paris."


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reasons_map_to_openai_finish_reasons(stop_reason, finish_reason):
    message = {**recorded_message("message_text.json"), "stop_reason": stop_reason}
    assert anthropic.parse_response(message)["choices"][0]["finish_reason"] == finish_reason


def test_a_message_without_usage_reports_none():
    message = recorded_message("message_text.json")
    del message["usage"]
    assert "usage" not in anthropic.parse_response(message)


@pytest.mark.parametrize(
    "data",
    [
        {"id": "msg_1", "type": "message", "model": "claude"},
        {"id": "msg_1", "model": "claude", "content": "hello"},
        {"id": "msg_1", "model": "claude", "content": [{"type": "tool_use", "name": "f"}]},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ["content"],
        None,
    ],
)
def test_a_malformed_message_is_rejected(data):
    with pytest.raises(UpstreamMalformed) as caught:
        anthropic.parse_response(data)
    assert caught.value.kind == "malformed"
    assert caught.value.retryable is True


# --- the event stream as chat.completion.chunks ---------------------------------------


async def test_a_streamed_text_reply():
    chunks, finished = translate(await recorded_events("stream_text.sse"))

    assert finished is True
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert {c["id"] for c in chunks} == {"msg_01Hq8RPxvnvYSoR3Rb8wSFTa"}
    assert {c["model"] for c in chunks} == {"claude-3-5-haiku-20241022"}
    assert chunks[0]["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]
    assert streamed_text(chunks) == "Hello! How can I help you today?"
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 25,
        "completion_tokens": 12,
        "total_tokens": 37,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert [c["choices"][0].get("native_finish_reason") for c in chunks if c["choices"]][
        -1
    ] == "end_turn"


async def test_the_stream_is_finished_only_by_message_stop():
    events = await recorded_events("stream_text.sse")
    translator = anthropic.StreamTranslator()
    for event, data in events[:-1]:
        translator.feed(event, data)
    assert translator.finished is False
    translator.feed(*events[-1])
    assert translator.finished is True


async def test_a_streamed_tool_call():
    chunks, finished = translate(await recorded_events("stream_tool_use.sse"))

    assert finished is True
    assert streamed_text(chunks) == "Okay, let's check the weather."
    # Anthropic's block 1 is the first tool call: OpenAI index 0.
    assert streamed_tool_calls(chunks) == {
        0: {
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "type": "function",
            "name": "get_weather",
            "arguments": '{"location": "San Francisco, CA", "unit": "fahrenheit"}',
        }
    }
    assert finish_reasons(chunks) == ["tool_calls"]
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 472,
        "completion_tokens": 89,
        "total_tokens": 561,
    }


async def test_an_error_event_mid_stream_raises_with_its_message():
    translator = anthropic.StreamTranslator()
    events = await recorded_events("stream_overloaded.sse")
    for event, data in events[:-1]:
        translator.feed(event, data)
    with pytest.raises(UpstreamError, match="Overloaded") as caught:
        translator.feed(*events[-1])
    assert caught.value.retryable is True
    assert translator.finished is False


@pytest.mark.parametrize(
    ("kind", "retryable"),
    [
        ("overloaded_error", True),
        ("api_error", True),
        ("rate_limit_error", True),
        ("invalid_request_error", False),
        ("authentication_error", False),
    ],
)
def test_error_events_are_retryable_only_when_the_provider_is_at_fault(kind, retryable):
    data = orjson.dumps({"type": "error", "error": {"type": kind, "message": "boom"}})
    with pytest.raises(UpstreamError, match="boom") as caught:
        anthropic.StreamTranslator().feed("error", data)
    assert caught.value.retryable is retryable


@pytest.mark.parametrize(
    "data",
    [
        b'{"type": "content_block_delta", "delta": {',
        b"[1, 2]",
        b'{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}}',
    ],
)
def test_a_malformed_event_is_rejected(data):
    translator = anthropic.StreamTranslator()
    with pytest.raises(UpstreamMalformed):
        translator.feed("content_block_delta", data)
    assert translator.finished is False


@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("ping", b'{"type": "ping"}'),
        ("content_block_stop", b'{"type": "content_block_stop", "index": 0}'),
        ("some_future_event", b'{"type": "some_future_event"}'),
    ],
)
def test_events_without_content_yield_no_chunks(event, data):
    assert anthropic.StreamTranslator().feed(event, data) == []


@pytest.mark.parametrize("output_count_kept", [False, True])
async def test_a_stream_without_input_usage_ends_without_a_usage_chunk(output_count_kept):
    # The dispatcher then estimates the usage, and says so; zeros would be billed as real.
    events = []
    for event, data in await recorded_events("stream_text.sse"):
        payload = orjson.loads(data)
        payload.get("message", {}).pop("usage", None)
        if not output_count_kept:
            payload.pop("usage", None)
        events.append((event, orjson.dumps(payload)))
    chunks, finished = translate(events)
    assert finished is True
    assert all("usage" not in c for c in chunks)
    assert streamed_text(chunks) == "Hello! How can I help you today?"


# --- against the simulator's Messages endpoint -----------------------------------------

# system "Be brief." 2 words + "what is up" 3 words + 1 per message: the simulator's count.
SIM_BODY = {"messages": [{"role": "system", "content": "Be brief."}, user("what is up")]}
SIM_PROMPT_TOKENS = 6
SIM_COMPLETION_TOKENS = 12  # the simulator's default reply length


async def send(wire: WireRequest, http: aiohttp.ClientSession, stream: bool) -> Any:
    """The request as the dispatcher sends it, and the answer as it reads it."""
    headers = {**wire.headers, "content-type": "application/json"}
    async with http.post(wire.url, data=orjson.dumps(wire.body), headers=headers) as response:
        assert response.status == 200, await response.read()
        if not stream:
            return orjson.loads(await response.read())
        return [event async for event in sse_events(response.content.iter_any())]


async def call_simulator(
    sim_url: str, body: dict[str, Any], stream: bool
) -> tuple[Any, WireRequest]:
    """The default catalog's Anthropic endpoint, pointed at the simulator as `veil up` does."""
    index = CatalogIndex.load()
    endpoint = index.endpoints[("anthropic/claude-3.5-haiku", "anthropic")]
    target = upstream_targets(index.catalog, "simulated", sim_url, {})["anthropic"]
    wire = anthropic.build_request(body, endpoint, target, stream)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        return await send(wire, http, stream), wire


async def test_simulator_non_streaming_reply(sim_url, control):
    data, _ = await call_simulator(sim_url, SIM_BODY, stream=False)
    completion = anthropic.parse_response(data)

    (choice,) = completion["choices"]
    assert choice["message"]["content"].startswith("Simulated reply from anthropic")
    assert choice["finish_reason"] == "stop"
    assert completion["usage"] == {
        "prompt_tokens": SIM_PROMPT_TOKENS,
        "completion_tokens": SIM_COMPLETION_TOKENS,
        "total_tokens": SIM_PROMPT_TOKENS + SIM_COMPLETION_TOKENS,
    }
    assert completion["model"] == "claude-3-5-haiku-20241022"
    (recorded,) = await control.requests("anthropic")
    assert recorded.auth_present is True
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert recorded.body["system"] == "Be brief."


async def test_simulator_streaming_reply(sim_url, control):
    events, _ = await call_simulator(sim_url, SIM_BODY, stream=True)
    chunks, finished = translate(events)

    assert finished is True
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = streamed_text(chunks)
    assert text.startswith("Simulated reply from anthropic")
    assert len(text.split()) == SIM_COMPLETION_TOKENS
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1]["usage"] == {
        "prompt_tokens": SIM_PROMPT_TOKENS,
        "completion_tokens": SIM_COMPLETION_TOKENS,
        "total_tokens": SIM_PROMPT_TOKENS + SIM_COMPLETION_TOKENS,
    }


async def test_simulator_reply_cut_by_max_tokens_finishes_with_length(sim_url, control):
    data, wire = await call_simulator(sim_url, {**SIM_BODY, "max_tokens": 3}, stream=False)
    assert wire.body["max_tokens"] == 3
    choice = anthropic.parse_response(data)["choices"][0]
    assert choice["message"]["content"] == "Simulated reply from"
    assert choice["finish_reason"] == "length"


@pytest.mark.parametrize("stream", [False, True])
async def test_simulator_tool_call(sim_url, control, stream):
    arguments = {"location": "Paris", "days": 3}
    await control.add(
        provider="anthropic", tool_call={"name": "get_weather", "arguments": arguments}
    )
    body = {**SIM_BODY, "tools": TOOLS, "tool_choice": "auto"}
    result, _ = await call_simulator(sim_url, body, stream)

    if stream:
        chunks, finished = translate(result)
        assert finished is True
        (call,) = streamed_tool_calls(chunks).values()
        name, raw_arguments, call_id = call["name"], call["arguments"], call["id"]
        (finish,) = finish_reasons(chunks)
    else:
        choice = anthropic.parse_response(result)["choices"][0]
        (tool_call,) = choice["message"]["tool_calls"]
        name, raw_arguments = tool_call["function"]["name"], tool_call["function"]["arguments"]
        call_id, finish = tool_call["id"], choice["finish_reason"]
    assert name == "get_weather"
    assert json.loads(raw_arguments) == arguments
    assert call_id.startswith("toolu_")
    assert finish == "tool_calls"
    (recorded,) = await control.requests("anthropic")
    assert recorded.body["tools"][0]["input_schema"] == TOOLS[0]["function"]["parameters"]
    assert recorded.body["tool_choice"] == {"type": "auto"}


# --- response_format: JSON schema through a forced tool, JSON mode by instruction -------

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
}
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "city_facts", "strict": True, "schema": ANSWER_SCHEMA},
}


def test_a_json_schema_becomes_a_forced_tool_with_that_input_schema():
    wire = build({"messages": [user("facts about Paris")], "response_format": SCHEMA_FORMAT})
    (tool,) = wire["tools"]
    assert tool["name"] == anthropic.ANSWER_TOOL
    assert tool["input_schema"] == ANSWER_SCHEMA
    assert wire["tool_choice"] == {"type": "tool", "name": anthropic.ANSWER_TOOL}
    assert "response_format" not in wire


def test_the_schemas_description_describes_the_answer_tool():
    described = {**SCHEMA_FORMAT["json_schema"], "description": "Facts about a city"}
    body = {
        "messages": [user("hi")],
        "response_format": {**SCHEMA_FORMAT, "json_schema": described},
    }
    assert build(body)["tools"][0]["description"] == "Facts about a city"


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        (None, {"type": "any"}),
        ("auto", {"type": "any"}),
        ("required", {"type": "any"}),
        ("none", {"type": "tool", "name": anthropic.ANSWER_TOOL}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_a_json_schema_next_to_the_clients_tools(choice, sent):
    body = {"messages": [user("hi")], "tools": TOOLS, "response_format": SCHEMA_FORMAT}
    if choice is not None:
        body["tool_choice"] = choice
    wire = build(body)
    assert [t["name"] for t in wire["tools"]] == ["get_weather", anthropic.ANSWER_TOOL]
    assert wire["tool_choice"] == sent


@pytest.mark.parametrize(
    "schema", [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]
)
def test_a_schema_that_is_not_an_object_fails_over_to_the_next_endpoint(schema):
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    with pytest.raises(UpstreamError) as caught:
        build({"messages": [user("hi")], "response_format": response_format})
    assert caught.value.retryable is True


def test_json_mode_is_an_instruction_in_the_system_prompt():
    body = {
        "messages": [{"role": "system", "content": "Be brief."}, user("hi")],
        "response_format": {"type": "json_object"},
    }
    wire = build(body)
    assert wire["system"] == f"Be brief.\n\n{anthropic.JSON_MODE_INSTRUCTION}"
    assert "tools" not in wire
    alone = build({"messages": [user("hi")], "response_format": {"type": "json_object"}})
    assert alone["system"] == anthropic.JSON_MODE_INSTRUCTION


def test_a_text_response_format_changes_nothing():
    body = {"messages": [user("hi")], "response_format": {"type": "text"}}
    assert build(body) == build({"messages": [user("hi")]})


def test_the_answer_tools_input_is_the_message_content():
    completion = anthropic.parse_response(recorded_message("message_json_answer.json"))
    (choice,) = completion["choices"]
    assert "tool_calls" not in choice["message"]
    assert json.loads(choice["message"]["content"]) == {
        "city": "Paris",
        "population": 2102650,
        "landmarks": ["Eiffel Tower", "Louvre"],
    }
    assert choice["finish_reason"] == "stop"


def test_the_clients_own_tool_calls_stay_tool_calls_next_to_an_answer():
    message = recorded_message("message_json_answer.json")
    message["content"].append(recorded_message("message_tool_use.json")["content"][1])
    choice = anthropic.parse_response(message)["choices"][0]
    assert json.loads(choice["message"]["content"])["city"] == "Paris"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert choice["finish_reason"] == "tool_calls"


async def test_a_streamed_answer_is_streamed_as_content():
    chunks, finished = translate(await recorded_events("stream_json_answer.sse"))
    assert finished is True
    assert json.loads(streamed_text(chunks)) == {"city": "Paris", "population": 2102650}
    assert streamed_tool_calls(chunks) == {}
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 512,
        "completion_tokens": 41,
        "total_tokens": 553,
    }


@pytest.mark.parametrize("stream", [False, True])
async def test_simulator_answers_a_json_schema(sim_url, control, stream):
    body = {**SIM_BODY, "response_format": SCHEMA_FORMAT}
    result, _ = await call_simulator(sim_url, body, stream)

    if stream:
        chunks, finished = translate(result)
        assert finished is True
        content, (finish,) = streamed_text(chunks), finish_reasons(chunks)
        assert streamed_tool_calls(chunks) == {}
    else:
        choice = anthropic.parse_response(result)["choices"][0]
        content, finish = choice["message"]["content"], choice["finish_reason"]
        assert "tool_calls" not in choice["message"]
    answer = json.loads(content)
    assert set(answer) == {"city", "population"}
    assert isinstance(answer["city"], str)
    assert isinstance(answer["population"], int)
    assert finish == "stop"
    (recorded,) = await control.requests("anthropic")
    assert recorded.body["tool_choice"] == {"type": "tool", "name": anthropic.ANSWER_TOOL}
    assert recorded.body["tools"][0]["input_schema"] == ANSWER_SCHEMA
