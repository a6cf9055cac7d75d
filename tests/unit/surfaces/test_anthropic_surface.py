"""The Messages API surface (veil.surfaces.anthropic), judged by Anthropic's own SDK.

The SDK is pointed at a stand-in for veil over an in-process transport: what it sends is
converted with `chat_request` (and must be a chat request veil accepts); what it gets
back is `message_response` or `MessageStream`'s events, which the SDK parses and
accumulates with its own code. Round trips through the dispatcher's Anthropic upstream
adapter (canonical -> Anthropic) check the conversions against the opposite direction.
"""

import inspect
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import ErrorResponse, Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from veil.dispatcher.upstreams import anthropic as upstream
from veil.dispatcher.upstreams.base import UpstreamTarget
from veil.schemas.catalog import Endpoint, Pricing
from veil.schemas.chat import ChatRequest
from veil.schemas.chunks import chunk_body, delta_choice, new_chunk
from veil.schemas.errors import VeilError
from veil.surfaces import anthropic as surface

FIXTURES = Path(__file__).parents[1] / "dispatcher" / "fixtures" / "anthropic"
STREAM_EVENT = TypeAdapter(RawMessageStreamEvent)

ENDPOINT = Endpoint(
    provider="anthropic",
    upstream_model="claude-sonnet-4-5",
    pricing=Pricing(prompt=Decimal("0.000003"), completion=Decimal("0.000015")),
    max_completion_tokens=8192,
    supported_parameters=(
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "stop",
        "tools",
        "tool_choice",
        "user",
    ),
)
TARGET = UpstreamTarget(
    base_url="https://api.anthropic.com/v1", api_key="k", auth_header="x-api-key"
)

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
PNG = (  # a 1x1 image
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
    "awAAAABJRU5ErkJggg=="
)


# --- a stand-in for veil, and the SDK pointed at it ------------------------------------


class Veil:
    """What veil's /messages does around the conversions: each request the SDK sends is
    converted (and must validate as veil's chat request); the answer is the completion,
    or the chunks as a stream, converted back."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # the canonical requests, in order
        self.completion: dict[str, Any] | None = None
        self.chunks: list[dict[str, Any]] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/api/v1/messages"
        body = json.loads(request.content)
        try:
            canonical = surface.chat_request(body)
        except VeilError as exc:
            return httpx2.Response(exc.code, json=surface.error_response(exc.code, exc.message))
        ChatRequest.model_validate(canonical)
        self.requests.append(canonical)
        if not canonical["stream"]:
            assert self.completion is not None
            return httpx2.Response(200, json=surface.message_response(self.completion))
        stream = surface.MessageStream(self.chunks[0]["id"], self.chunks[0]["model"])
        data = b"".join(stream.feed(chunk) for chunk in self.chunks) + stream.close()
        return httpx2.Response(200, content=data, headers={"content-type": "text/event-stream"})

    def client(self) -> anthropic.Anthropic:
        http = httpx2.Client(transport=httpx2.MockTransport(self.handle))
        return anthropic.Anthropic(
            api_key="veil-key", base_url="http://veil.test/api", http_client=http, max_retries=0
        )


@pytest.fixture
def veil() -> Veil:
    return Veil()


SDK_PARAMETERS = set(inspect.signature(anthropic.Anthropic(api_key="k").messages.create).parameters)


def sent(body: dict[str, Any]) -> dict[str, Any]:
    """The canonical request for a Messages body sent by the SDK (fields its `create`
    no longer names, such as the sampling parameters, as `extra_body`)."""
    stand_in = Veil()
    stand_in.completion = completion("ok")
    named = {k: v for k, v in body.items() if k in SDK_PARAMETERS}
    extra = {k: v for k, v in body.items() if k not in SDK_PARAMETERS}
    stand_in.client().messages.create(**named, extra_body=extra)
    return stand_in.requests[0]


def completion(
    text: str | None = "Hello!",
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = "stop",
    native: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A chat.completion as veil's dispatcher answers it."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "gen-1750000000-abcdefghijklmnopqrst",
        "object": "chat.completion",
        "created": 1750000000,
        "model": "anthropic/claude-sonnet-4.5",
        "provider": "Anthropic",
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason,
                "native_finish_reason": native if native is not None else finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage
        or {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "cost": 0.000111},
    }


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


GEN_ID, MODEL = "gen-1750000000-streamstreamstream", "anthropic/claude-sonnet-4.5"


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, native: str | None = None
) -> dict[str, Any]:
    """A content chunk as the dispatcher relays it."""
    choice = delta_choice(delta or {}, finish)
    if finish is not None:
        choice["native_finish_reason"] = native or finish
    built = new_chunk("upstream-id", "upstream-model", choices=[choice])
    return dict(chunk_body(built, GEN_ID, MODEL, "Anthropic"))


def usage_chunk(prompt: int = 20, completion_tokens: int = 9, cost: float = 0.0002) -> dict:
    built = new_chunk(GEN_ID, MODEL, "Anthropic")
    built["usage"] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
        "cost": cost,
    }
    return dict(built)


def tool_delta(index: int, arguments: str, call_id: str | None = None, name: str | None = None):
    function: dict[str, Any] = {"arguments": arguments}
    entry: dict[str, Any] = {"index": index, "function": function}
    if call_id is not None:
        entry.update(id=call_id, type="function")
        function["name"] = name
    return {"tool_calls": [entry]}


def sse_events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Server-sent events as Anthropic writes them: `event:` then `data:`, named alike."""
    assert data.endswith(b"\n\n")
    events = []
    for raw in data.decode().split("\n\n")[:-1]:
        name_line, data_line = raw.split("\n")
        assert name_line.startswith("event: ")
        assert data_line.startswith("data: ")
        payload = json.loads(data_line.removeprefix("data: "))
        assert payload["type"] == name_line.removeprefix("event: ")
        events.append((payload["type"], payload))
    return events


def streamed(chunks: Iterable[dict[str, Any]], message_id: str = GEN_ID, **kwargs: Any) -> bytes:
    stream = surface.MessageStream(message_id, MODEL, **kwargs)
    return b"".join(stream.feed(c) for c in chunks) + stream.close()


def accumulated(events: list[tuple[str, dict[str, Any]]]) -> Message:
    """The Message the SDK's own stream accumulation makes of the events, each of them
    first validated (strictly) as one of the SDK's stream event types."""
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for name, payload in events:
        if name == "ping":
            continue
        event = STREAM_EVENT.validate_python(payload)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)
    assert snapshot is not None
    return Message.model_validate(snapshot.model_dump())


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


# --- requests: Messages -> canonical --------------------------------------------------


def test_a_plain_request_keeps_its_parameters_under_openai_names():
    canonical = sent(
        {
            "model": "anthropic/claude-sonnet-4.5",
            "max_tokens": 256,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hello"}],
            "temperature": 0.3,
            "top_p": 0.9,
            "top_k": 40,
            "stop_sequences": ["END", "STOP"],
            "metadata": {"user_id": "user-42"},
        }
    )
    assert canonical == {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
        "max_tokens": 256,
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "stop": ["END", "STOP"],
        "user": "user-42",
        "stream": False,
    }


def test_openrouter_models_and_provider_pass_through(veil):
    veil.completion = completion()
    provider = {"order": ["anthropic"], "allow_fallbacks": False, "data_collection": "deny"}
    veil.client().messages.create(
        model="anthropic/claude-sonnet-4.5",
        max_tokens=10,
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"models": ["openai/gpt-4o"], "provider": provider},
    )
    canonical = veil.requests[0]
    assert canonical["models"] == ["openai/gpt-4o"]
    assert canonical["provider"] == provider
    assert ChatRequest.model_validate(canonical).candidate_models == [
        "anthropic/claude-sonnet-4.5",
        "openai/gpt-4o",
    ]


def test_models_alone_choose_the_model():
    canonical = surface.chat_request(
        {"models": ["a/b", "c/d"], "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    )
    assert "model" not in canonical
    assert ChatRequest.model_validate(canonical).requested_models == ["a/b", "c/d"]


def test_system_text_blocks_are_one_system_message_with_cache_control_kept():
    canonical = surface.chat_request(
        {
            "model": "m",
            "max_tokens": 5,
            "system": [
                {"type": "text", "text": "You are a librarian."},
                {
                    "type": "text",
                    "text": "The catalog: ...",
                    "cache_control": {"type": "ephemeral"},
                },
            ],
            "messages": [{"role": "user", "content": "x"}],
        }
    )
    assert canonical["messages"][0] == {
        "role": "system",
        "content": [
            {"type": "text", "text": "You are a librarian."},
            {"type": "text", "text": "The catalog: ...", "cache_control": {"type": "ephemeral"}},
        ],
    }


def test_an_empty_system_prompt_is_no_message():
    canonical = surface.chat_request(
        {
            "model": "m",
            "max_tokens": 5,
            "system": "",
            "messages": [{"role": "user", "content": "x"}],
        }
    )
    assert [m["role"] for m in canonical["messages"]] == ["user"]


def test_tool_use_and_tool_results_become_tool_calls_and_tool_messages():
    canonical = surface.chat_request(
        {
            "model": "m",
            "max_tokens": 100,
            "tools": [WEATHER_TOOL],
            "tool_choice": {"type": "auto"},
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Checking both."},
                        {
                            "type": "tool_use",
                            "id": "toolu_01",
                            "name": "get_weather",
                            "input": {"location": "Paris"},
                        },
                        {
                            "type": "tool_use",
                            "id": "toolu_02",
                            "name": "get_weather",
                            "input": {"location": "Rome"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_02",
                            "content": [{"type": "text", "text": "24°C"}],
                        },
                        {"type": "text", "text": "Which is warmer?"},
                    ],
                },
            ],
        }
    )
    assert canonical["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city",
                "parameters": WEATHER_TOOL["input_schema"],
            },
        }
    ]
    assert canonical["tool_choice"] == "auto"
    assert canonical["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Checking both.",
            "tool_calls": [
                call("toolu_01", "get_weather", '{"location":"Paris"}'),
                call("toolu_02", "get_weather", '{"location":"Rome"}'),
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01", "content": "18°C"},
        {"role": "tool", "tool_call_id": "toolu_02", "content": "24°C"},
        {"role": "user", "content": "Which is warmer?"},
    ]
    ChatRequest.model_validate(canonical)


def test_tool_results_come_right_after_the_tool_calls_whatever_their_place_in_the_turn():
    canonical = surface.chat_request(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "here:"},
                        {"type": "tool_result", "tool_use_id": "t1", "content": "done"},
                    ],
                },
            ],
        }
    )
    assert [m["role"] for m in canonical["messages"]] == ["user", "assistant", "tool", "user"]
    assert canonical["messages"][1]["content"] is None


def test_a_failed_tool_result_says_so_in_its_content():
    canonical = surface.chat_request(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": "city not found",
                            "is_error": True,
                        }
                    ],
                },
            ],
        }
    )
    assert canonical["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "t1",
        "content": "Error: city not found",
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        (
            {"type": "tool", "name": "get_weather"},
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        ),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "auto", "disable_parallel_tool_use": True},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
        (
            {"type": "any", "disable_parallel_tool_use": False},
            {"tool_choice": "required"},
        ),
    ],
)
def test_tool_choice(choice, expected):
    canonical = sent(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [WEATHER_TOOL],
            "tool_choice": choice,
        }
    )
    assert {k: canonical[k] for k in ("tool_choice", "parallel_tool_calls") if k in canonical} == (
        expected
    )


def test_images_become_image_url_parts():
    canonical = sent(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://example.com/cat.jpg"},
                            "cache_control": {"type": "ephemeral"},
                        },
                        {"type": "text", "text": "Same animal?"},
                    ],
                }
            ],
        }
    )
    assert canonical["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/cat.jpg"},
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "text", "text": "Same animal?"},
            ],
        }
    ]


def test_the_sdks_own_answers_sent_back_as_history_are_taken(veil):
    """The SDK's tool loop: the assistant's content objects (from a Message, and from a
    streamed one) go back as they are, with the tool results."""
    veil.completion = completion(
        "Let me check.", [call("toolu_7", "get_weather", '{"location":"Oslo"}')], "tool_calls"
    )
    veil.chunks = [
        chunk({"role": "assistant", "content": "Let me check."}),
        chunk(tool_delta(0, '{"location":', "toolu_7", "get_weather")),
        chunk(tool_delta(0, '"Oslo"}'), "tool_calls"),
        usage_chunk(),
    ]
    client = veil.client()
    question = {"role": "user", "content": "Weather in Oslo?"}
    answer = client.messages.create(
        model="m", max_tokens=50, messages=[question], tools=[WEATHER_TOOL]
    )
    with client.messages.stream(
        model="m", max_tokens=50, messages=[question], tools=[WEATHER_TOOL]
    ) as stream:
        streamed_answer = stream.get_final_message()
    for content in (answer.content, streamed_answer.content):
        client.messages.create(
            model="m",
            max_tokens=50,
            tools=[WEATHER_TOOL],
            messages=[
                question,
                {"role": "assistant", "content": content},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_7", "content": "-3°C"}
                    ],
                },
            ],
        )
        assert veil.requests[-1]["messages"][1:] == [
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [call("toolu_7", "get_weather", '{"location":"Oslo"}')],
            },
            {"role": "tool", "tool_call_id": "toolu_7", "content": "-3°C"},
        ]


# The round trip: a Messages request, as veil takes it, then as the dispatcher's upstream
# adapter sends it to Anthropic, is the request the client wrote (the model aside).
ROUND_TRIPS = {
    "text": {
        "max_tokens": 300,
        "system": "Answer in French.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Bonjour"}]},
            {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
        ],
        "stream": False,
        "temperature": 0.5,
        "top_p": 0.8,
        "top_k": 20,
        "stop_sequences": ["\n\nHuman:"],
        "metadata": {"user_id": "u-1"},
    },
    "tools": {
        "max_tokens": 1024,
        "system": "You help with the weather.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Paris and Rome?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01",
                        "name": "get_weather",
                        "input": {"location": "Paris", "days": [1, 2], "units": None},
                    },
                    {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_02",
                        "content": [
                            {"type": "text", "text": "chart:"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": PNG,
                                },
                            },
                        ],
                    },
                    {"type": "text", "text": "Warmer?"},
                ],
            },
        ],
        "stream": True,
        "tools": [WEATHER_TOOL, {"name": "no_args", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    },
    "images": {
        "max_tokens": 50,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                    {
                        "type": "text",
                        "text": "Describe both.",
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            }
        ],
        "stream": False,
        "tool_choice": {"type": "any"},
        "tools": [WEATHER_TOOL],
    },
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_a_request_round_trips_through_the_upstream_adapter(name):
    original = {"model": "anthropic/claude-sonnet-4.5", **ROUND_TRIPS[name]}
    canonical = surface.chat_request(original)
    ChatRequest.model_validate(canonical)
    wire = upstream.build_request(canonical, ENDPOINT, TARGET, canonical["stream"])
    assert wire.body == {**original, "model": ENDPOINT.upstream_model}


# --- requests veil refuses --------------------------------------------------------------


def refusal(body: dict[str, Any]) -> str:
    with pytest.raises(VeilError) as caught:
        surface.chat_request(body)
    assert caught.value.code == 400
    return caught.value.message


def base(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], **fields}


def user_blocks(*blocks: dict[str, Any]) -> dict[str, Any]:
    return base(messages=[{"role": "user", "content": list(blocks)}])


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (base(thinking={"type": "enabled", "budget_tokens": 2048}), "thinking"),
        (base(service_tier="auto"), "service_tier"),
        (base(mcp_servers=[]), "mcp_servers"),
        (base(metadata={"user_id": "u", "session": "s"}), "metadata.session"),
        (
            user_blocks({"type": "text", "text": "x", "lang": "fr"}),
            "messages.0.content.0.text.lang",
        ),
        (base(tools=[{**WEATHER_TOOL, "input_examples": []}]), "tools.0.input_examples"),
    ],
)
def test_an_unknown_field_is_refused_by_name(body, named):
    message = refusal(body)
    assert f"{named}: unknown field" in message


def test_the_sdk_gets_the_refusal_as_an_invalid_request_error(veil):
    with pytest.raises(anthropic.BadRequestError) as caught:
        veil.client().messages.create(
            model="m",
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "thinking: unknown field" in caught.value.body["error"]["message"]


@pytest.mark.parametrize(
    "block",
    [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "xxx"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"}},
        {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}},
        {"type": "search_result", "source": "s", "title": "t", "content": []},
    ],
)
def test_blocks_veil_does_not_translate_are_refused_not_dropped(block):
    assistant = {"role": "assistant", "content": [block, {"type": "text", "text": "ok"}]}
    message = refusal(base(messages=[{"role": "user", "content": "x"}, assistant]))
    assert f"content blocks of type {block['type']!r} are not supported" in message
    assert "messages.1.content" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            base(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                    }
                ]
            ),
            "messages.0.content.0: tool_use blocks are not allowed in user turns",
        ),
        (
            base(
                messages=[
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
                ]
            ),
            "messages.1.content.0: tool_result blocks are not allowed in assistant turns",
        ),
        (
            user_blocks(
                {
                    "type": "tool_result",
                    "tool_use_id": "t",
                    "content": [{"type": "document", "source": {}}],
                }
            ),
            "messages.0.content.0.tool_result.content: content blocks of type 'document'",
        ),
        (
            base(system=[{"type": "text", "text": "a"}, {"type": "image", "source": {}}]),
            "system: content blocks of type 'image' are not supported",
        ),
        (base(messages=[{"role": "system", "content": "x"}]), "messages.0.role"),
        (base(tools=[{"type": "web_search_20250305", "name": "web_search"}]), "server tools"),
        (base(tool_choice={"type": "tool"}), "tool_choice.tool.name: Field required"),
        (
            user_blocks({"type": "image", "source": {"type": "file", "file_id": "f_1"}}),
            "messages.0.content.0.image.source",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}]},
            "max_tokens: Field required",
        ),
        (base(temperature=1.5), "temperature"),
        (base(messages=[]), "messages"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "`model` or `models`"),
        (base(stream="yes"), "stream"),
    ],
)
def test_invalid_requests_are_400s_that_name_the_problem(body, expected):
    assert expected in refusal(body)


def test_a_refusal_never_quotes_the_prompt():
    message = refusal(user_blocks({"type": "text", "text": "my secret diary", "extra": "secret"}))
    assert "secret" not in message


# --- answers: canonical completion -> Message ------------------------------------------


def test_a_text_completion_is_a_message_the_sdk_reads(veil):
    veil.completion = completion("Hello there!")
    message = veil.client().messages.create(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
    )
    assert message.id == "gen-1750000000-abcdefghijklmnopqrst"
    assert message.model == "anthropic/claude-sonnet-4.5"
    assert message.role == "assistant"
    assert [(b.type, b.text) for b in message.content] == [("text", "Hello there!")]
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 5)
    assert message.usage.model_extra == {"cost": 0.000111}


def test_a_message_validates_as_the_sdks_message_type():
    body = surface.message_response(
        completion("Hi", [call("call_1", "f", '{"a": 1}')], "tool_calls")
    )
    assert Message.model_validate(body).model_dump(exclude_none=True) == {
        "id": "gen-1750000000-abcdefghijklmnopqrst",
        "type": "message",
        "role": "assistant",
        "model": "anthropic/claude-sonnet-4.5",
        "content": [
            {"type": "text", "text": "Hi"},
            {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 12, "output_tokens": 5, "cost": 0.000111},
    }


def test_tool_calls_are_tool_use_blocks_after_the_text():
    body = surface.message_response(
        completion(
            None,
            [call("call_a", "get_weather", '{"location": "Oslo"}'), call("call_b", "now", "")],
            "tool_calls",
        )
    )
    assert body["content"] == [
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"location": "Oslo"}},
        {"type": "tool_use", "id": "call_b", "name": "now", "input": {}},
    ]
    Message.model_validate(body)


@pytest.mark.parametrize("arguments", ['{"location": "Os', "[1, 2]", '"Oslo"', "null"])
def test_arguments_that_are_not_a_json_object_are_kept_whole(arguments):
    body = surface.message_response(completion(None, [call("c", "f", arguments)], "tool_calls"))
    assert body["content"][0]["input"] == {"_raw": arguments}
    Message.model_validate(body)


def test_an_empty_answer_has_no_content_blocks():
    body = surface.message_response(completion(""))
    assert body["content"] == []
    Message.model_validate(body)


@pytest.mark.parametrize(
    ("finish", "native", "tools", "stop_reason"),
    [
        ("stop", None, False, "end_turn"),
        ("length", None, False, "max_tokens"),
        ("tool_calls", None, True, "tool_use"),
        ("content_filter", None, False, "refusal"),
        ("stop", "end_turn", False, "end_turn"),
        ("stop", "stop_sequence", False, "stop_sequence"),
        ("stop", "pause_turn", False, "pause_turn"),
        ("length", "model_context_window_exceeded", False, "model_context_window_exceeded"),
        ("content_filter", "refusal", False, "refusal"),
        ("stop", "STOP", False, "end_turn"),  # another provider's native reason
        ("stop", "eos", True, "tool_use"),  # tool calls under "stop": still tool_use
        ("length", "max_tokens", True, "max_tokens"),  # a call cut short is not run
        ("error", None, False, "end_turn"),
        (None, None, False, "end_turn"),
    ],
)
def test_stop_reasons(finish, native, tools, stop_reason):
    calls = [call("c", "f", "{}")] if tools else None
    body = surface.message_response(completion("x", calls, finish, native))
    assert body["stop_reason"] == stop_reason
    Message.model_validate(body)


def test_the_stop_sequence_is_named_when_the_request_had_only_one():
    hit = completion("x", finish_reason="stop", native="stop_sequence")
    assert surface.message_response(hit, stop_sequences=["END"])["stop_sequence"] == "END"
    assert surface.message_response(hit, stop_sequences=["END", "FIN"])["stop_sequence"] is None
    assert (
        surface.message_response(completion("x"), stop_sequences=["END"])["stop_sequence"] is None
    )


def test_cached_prompt_tokens_are_counted_apart_as_anthropic_does():
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 20,
        "total_tokens": 1020,
        "cost": 0.0012,
        "prompt_tokens_details": {"cached_tokens": 800, "cache_write_tokens": 150},
    }
    body = surface.message_response(completion("x", usage=usage))
    assert body["usage"] == {
        "input_tokens": 50,
        "output_tokens": 20,
        "cache_read_input_tokens": 800,
        "cache_creation_input_tokens": 150,
        "cost": 0.0012,
    }
    Message.model_validate(body)


def input_total(usage: Any) -> int:
    """Every input token, whether read from the cache, written to it, or neither."""
    counts = (usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens)
    return sum(count or 0 for count in counts)


@pytest.mark.parametrize("name", ["message_text.json", "message_tool_use.json"])
def test_an_anthropic_message_round_trips_through_the_upstream_adapter(name):
    """Anthropic's Message -> veil's completion (the upstream adapter) -> the Message.
    Usage keeps its total of input tokens and the cache reads; the cache writes are
    input tokens again (veil's canonical usage does not count them apart)."""
    original = Message.model_validate(json.loads((FIXTURES / name).read_text()))
    answer = Message.model_validate(
        surface.message_response(upstream.parse_response(original.model_dump()))
    )
    assert answer.model_dump(exclude={"usage"}) == original.model_dump(exclude={"usage"})
    assert input_total(answer.usage) == input_total(original.usage)
    assert answer.usage.cache_read_input_tokens == original.usage.cache_read_input_tokens
    assert answer.usage.output_tokens == original.usage.output_tokens


# --- streams: canonical chunks -> Messages events ---------------------------------------


def test_a_streamed_text_answer(veil):
    veil.chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"content": ", world"}),
        chunk({}, "stop"),
        usage_chunk(prompt=20, completion_tokens=9),
    ]
    events = sse_events(streamed(veil.chunks))
    assert names(events) == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert (start["id"], start["model"], start["content"]) == (GEN_ID, MODEL, [])
    assert events[-2][1]["usage"] == {"input_tokens": 20, "output_tokens": 9, "cost": 0.0002}

    with veil.client().messages.stream(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        texts = list(stream.text_stream)
        message = stream.get_final_message()
    assert texts == ["Hello", ", world"]
    assert message.id == GEN_ID
    assert [(b.type, b.text) for b in message.content] == [("text", "Hello, world")]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 9)
    assert veil.requests[0]["stream"] is True


def test_a_streamed_tool_use_with_arguments_split_over_chunks(veil):
    veil.chunks = [
        chunk({"role": "assistant", "content": "Checking"}),
        chunk({"content": " both."}),
        chunk(tool_delta(0, "", "call_1", "get_weather")),
        chunk(tool_delta(0, '{"loca')),
        chunk(tool_delta(0, 'tion": "Pa')),
        chunk(tool_delta(0, 'ris"}')),
        chunk(tool_delta(1, '{"location": "Rome"}', "call_2", "get_weather")),
        chunk({}, "tool_calls", "tool_use"),
        usage_chunk(),
    ]
    events = sse_events(streamed(veil.chunks))
    blocks = [
        (p["index"], p["content_block"]["type"]) for n, p in events if n == "content_block_start"
    ]
    assert blocks == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    fragments = [
        (p["index"], p["delta"]["partial_json"])
        for n, p in events
        if n == "content_block_delta" and p["delta"]["type"] == "input_json_delta"
    ]
    assert fragments == [
        (1, '{"loca'),
        (1, 'tion": "Pa'),
        (1, 'ris"}'),
        (2, '{"location": "Rome"}'),
    ]
    # every block is stopped, in order, before the next one starts
    opened: list[int] = []
    for name, payload in events:
        if name == "content_block_start":
            assert not opened
            opened.append(payload["index"])
        elif name == "content_block_delta":
            assert opened == [payload["index"]]
        elif name == "content_block_stop":
            assert opened == [payload["index"]]
            opened.pop()
    assert not opened

    with veil.client().messages.stream(
        model="m", max_tokens=100, messages=[{"role": "user", "content": "x"}], tools=[WEATHER_TOOL]
    ) as stream:
        message = stream.get_final_message()
    assert [b.model_dump(exclude_none=True) for b in message.content] == [
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"location": "Rome"}},
    ]
    assert message.stop_reason == "tool_use"


def test_text_after_a_tool_call_is_a_new_text_block():
    events = sse_events(
        streamed(
            [
                chunk(tool_delta(0, "{}", "call_1", "f")),
                chunk({"content": "Done."}),
                chunk({}, "tool_calls"),
            ]
        )
    )
    message = accumulated(events)
    assert [b.type for b in message.content] == ["tool_use", "text"]
    assert message.stop_reason == "tool_use"


def test_usage_is_taken_from_the_usage_chunk_whenever_it_comes():
    before = [chunk({"content": "x"}), chunk({}, "length"), usage_chunk(7, 3)]
    last = chunk({}, "length")
    last["usage"] = usage_chunk(7, 3)["usage"]
    with_finish = [chunk({"content": "x"}), last]
    for chunks in (before, with_finish):
        message = accumulated(sse_events(streamed(chunks)))
        assert message.stop_reason == "max_tokens"
        assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 3)


def test_a_stream_without_usage_reports_zero_tokens():
    message = accumulated(sse_events(streamed([chunk({"content": "x"}), chunk({}, "stop")])))
    assert (message.usage.input_tokens, message.usage.output_tokens) == (0, 0)


def test_a_stream_without_any_chunk_is_still_a_whole_message():
    events = sse_events(surface.MessageStream(GEN_ID, MODEL).close())
    assert names(events) == ["message_start", "ping", "message_delta", "message_stop"]
    assert accumulated(events).content == []


def test_a_streamed_stop_sequence_is_named_when_the_request_had_only_one():
    chunks = [chunk({"content": "x"}), chunk({}, "stop", "stop_sequence")]
    message = accumulated(sse_events(streamed(chunks, stop_sequences=["###"])))
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "###")


def test_close_and_feed_after_the_end_send_nothing():
    stream = surface.MessageStream(GEN_ID, MODEL)
    stream.feed(chunk({"content": "x"}))
    assert stream.close()
    assert stream.close() == b""
    assert stream.feed(chunk({"content": "y"})) == b""
    assert stream.error("late") == b""


def test_an_error_chunk_mid_stream_is_an_error_event_the_sdk_raises(veil):
    failure = {
        **chunk({}, "error"),
        "error": {"code": 502, "message": "Provider returned error", "metadata": {}},
    }
    veil.chunks = [chunk({"content": "partial"}), failure]
    stream = surface.MessageStream(GEN_ID, MODEL)
    data = b"".join(stream.feed(c) for c in veil.chunks)
    events = sse_events(data + stream.close())
    assert names(events)[-1] == "error"
    assert events[-1][1] == {
        "type": "error",
        "error": {"type": "api_error", "message": "Provider returned error"},
    }
    ErrorResponse.model_validate(events[-1][1])

    client = veil.client()
    request = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(anthropic.APIStatusError) as caught, client.messages.stream(**request) as s:
        s.get_final_message()
    assert caught.value.body == events[-1][1]


def test_error_events_name_their_kind():
    stream = surface.MessageStream(GEN_ID, MODEL)
    events = sse_events(stream.error("slow down", "rate_limit_error"))
    assert events == [
        ("error", {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    ]
    assert stream.close() == b""


def sse_lines(data: bytes) -> Iterator[tuple[str, dict[str, Any]]]:
    """A recorded Anthropic stream's events (its pings with their spacing aside)."""
    for raw in data.decode().split("\n\n"):
        if raw.strip():
            name_line, data_line = raw.strip().split("\n")
            yield name_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tool_use.sse"])
def test_an_anthropic_stream_round_trips_through_the_upstream_adapter(name):
    """Anthropic's events -> veil's chunks (the upstream adapter) -> the events: the SDK
    accumulates the same message from both."""
    recorded = list(sse_lines((FIXTURES / name).read_bytes()))
    translator = upstream.StreamTranslator()
    chunks = [
        chunk_body(c, GEN_ID, MODEL, "Anthropic")
        for event_name, payload in recorded
        for c in translator.feed(event_name, json.dumps(payload).encode())
    ]
    original = accumulated(recorded)
    again = accumulated(sse_events(streamed(chunks, message_id=original.id)))
    assert again.content == original.content
    assert (again.id, again.stop_reason, again.stop_sequence) == (
        original.id,
        original.stop_reason,
        original.stop_sequence,
    )
    assert (again.usage.input_tokens, again.usage.output_tokens) == (
        original.usage.input_tokens,
        original.usage.output_tokens,
    )


# --- errors ---------------------------------------------------------------------------

ERROR_STATUSES = {
    400: ("invalid_request_error", anthropic.BadRequestError),
    401: ("authentication_error", anthropic.AuthenticationError),
    402: ("billing_error", anthropic.APIStatusError),
    403: ("permission_error", anthropic.PermissionDeniedError),
    404: ("not_found_error", anthropic.NotFoundError),
    413: ("request_too_large", anthropic.APIStatusError),
    429: ("rate_limit_error", anthropic.RateLimitError),
    500: ("api_error", anthropic.InternalServerError),
    502: ("api_error", anthropic.InternalServerError),
    503: ("overloaded_error", anthropic.InternalServerError),
    504: ("timeout_error", anthropic.InternalServerError),
    529: ("overloaded_error", anthropic.InternalServerError),
    422: ("invalid_request_error", anthropic.APIStatusError),
    599: ("api_error", anthropic.InternalServerError),
}


@pytest.mark.parametrize("status", sorted(ERROR_STATUSES))
def test_error_bodies_by_status(status):
    kind, exception = ERROR_STATUSES[status]
    body = surface.error_response(status, "No endpoint can serve this request")
    assert body == {
        "type": "error",
        "error": {"type": kind, "message": "No endpoint can serve this request"},
    }
    if kind != "request_too_large":  # Anthropic's documented type, missing from the SDK's union
        ErrorResponse.model_validate(body)

    def answer(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json=body)

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://veil.test/api",
        http_client=httpx2.Client(transport=httpx2.MockTransport(answer)),
        max_retries=0,
    )
    with pytest.raises(exception) as caught:
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == status
    assert caught.value.body == body
