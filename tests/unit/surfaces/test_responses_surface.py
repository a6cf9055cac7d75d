"""The Responses API surface, judged by OpenAI's own SDK: its request types in, its
`Response` model and stream events out, and its stream accumulator over veil's bytes
(through a mock transport: the SDK's whole client path, no network)."""

import json
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseStreamEvent,
)
from pydantic import TypeAdapter

from veil.schemas.chat import ChatRequest
from veil.schemas.errors import VeilError
from veil.surfaces.responses import (
    ResponseStream,
    chat_request,
    echo_fields,
    response_object,
    wants_storage,
)

GEN = "gen-1700000000-0123456789abcdef0123"
MODEL = "acme/large"
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "strict": True,
}
USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "cost": 0.00021,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": None,
}


def request(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "input": "hi", **fields}


def completion(
    content: str | None = "Hello!",
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": GEN,
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "provider": "Acme",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason,
                "native_finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": USAGE,
    }


def chunk(delta: dict[str, Any] | None = None, finish_reason: str | None = None) -> dict:
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    )
    return {
        "id": GEN,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "provider": "Acme",
        "choices": choices,
    }


def call_fragment(index: int, arguments: str, call_id: str = "", name: str = "") -> dict:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        fragment.update(id=call_id, type="function")
        fragment["function"]["name"] = name
    return {"tool_calls": [fragment]}


def usage_chunk() -> dict:
    return {**chunk(), "usage": USAGE}


def refused(body: dict[str, Any]) -> VeilError:
    with pytest.raises(VeilError) as caught:
        chat_request(body)
    assert caught.value.code == 400
    return caught.value


def parse_sse(data: bytes) -> list[dict[str, Any]]:
    """Each event's data, checked against its `event:` line, the SDK's event types and the
    sequence numbers before it."""
    events = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ")
        assert data_line.startswith("data: ")
        event = json.loads(data_line.removeprefix("data: "))
        assert event["type"] == name_line.removeprefix("event: ")
        assert event["sequence_number"] == len(events)
        EVENTS.validate_python(event)
        events.append(event)
    assert data.endswith(b"\n\n")
    return events


def stream_bytes(chunks: list[dict], body: dict[str, Any] | None = None) -> bytes:
    stream = ResponseStream(GEN, MODEL, body or request(stream=True))
    return b"".join(stream.feed(c) for c in chunks) + stream.close()


def sdk_client(answer: Callable[[dict[str, Any]], httpx2.Response]) -> openai.OpenAI:
    """OpenAI's client, its requests answered by `answer` (given the JSON body sent)."""

    def handler(http_request: httpx2.Request) -> httpx2.Response:
        assert http_request.url.path.endswith("/responses")
        return answer(json.loads(http_request.content))

    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        api_key="sk-veil-test",
        base_url="http://veil.test/api/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )


def sse_answer(data: bytes) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=data)


# -- requests -----------------------------------------------------------------------------


def test_a_string_input_is_one_user_message():
    chat = chat_request(request(max_output_tokens=300, temperature=0.2, top_p=0.9, user="u-1"))
    assert chat == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 300,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u-1",
    }
    ChatRequest.model_validate(chat)


def test_instructions_are_a_first_system_message():
    chat = chat_request(request(instructions="Answer in French.", stream=True))
    assert chat["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "hi"},
    ]
    assert chat["stream"] is True


def test_openrouter_models_and_provider_pass_through():
    provider = {"order": ["acme"], "data_collection": "deny"}
    chat = chat_request(request(models=["acme/small"], provider=provider))
    assert chat["models"] == ["acme/small"]
    assert chat["provider"] == provider
    assert ChatRequest.model_validate(chat).candidate_models == [MODEL, "acme/small"]


def test_message_items_and_their_content_parts():
    image = "data:image/png;base64,iVBORw0KGgo="
    chat = chat_request(
        request(
            input=[
                {"role": "developer", "content": "Be brief."},
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this?"},
                        {"type": "input_image", "image_url": image, "detail": "low"},
                    ],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "id": "msg_1",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "A cat.", "annotations": []}],
                },
            ]
        )
    )
    assert chat["messages"] == [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
            ],
        },
        {"role": "assistant", "content": "A cat."},
    ]
    ChatRequest.model_validate(chat)


def test_function_calls_and_their_outputs_become_tool_calls_and_tool_messages():
    chat = chat_request(
        request(
            input=[
                {"role": "user", "content": "Weather in Paris and Oslo?"},
                {"type": "message", "role": "assistant", "content": "Let me look."},
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_a",
                    "name": "get_weather",
                    "arguments": '{"city":"Paris"}',
                    "status": "completed",
                },
                {
                    "type": "function_call",
                    "call_id": "call_b",
                    "name": "get_weather",
                    "arguments": '{"city":"Oslo"}',
                },
                {"type": "function_call_output", "call_id": "call_a", "output": "18C"},
                {
                    "type": "function_call_output",
                    "call_id": "call_b",
                    "output": [{"type": "input_text", "text": "4C"}],
                },
            ],
            tools=[WEATHER],
        )
    )
    assert chat["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "4C"}]},
    ]
    ChatRequest.model_validate(chat)


def test_a_function_call_without_a_message_before_it_opens_an_assistant_message():
    chat = chat_request(
        request(
            input=[
                {"role": "user", "content": "Weather?"},
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c", "output": "ok"},
            ]
        )
    )
    assert chat["messages"][1]["role"] == "assistant"
    assert chat["messages"][1]["content"] is None
    assert [c["id"] for c in chat["messages"][1]["tool_calls"]] == ["c"]


def test_function_tools_tool_choice_and_text_format():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    chat = chat_request(
        request(
            tools=[WEATHER],
            tool_choice={"type": "function", "name": "get_weather"},
            parallel_tool_calls=False,
            text={
                "format": {
                    "type": "json_schema",
                    "name": "answer",
                    "schema": schema,
                    "strict": True,
                },
                "verbosity": "low",
            },
            reasoning={"effort": "low", "summary": "auto"},
        )
    )
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city",
                "parameters": WEATHER["parameters"],
                "strict": True,
            },
        }
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["parallel_tool_calls"] is False
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    assert chat["verbosity"] == "low"
    assert chat["reasoning"] == {"effort": "low"}
    parsed = ChatRequest.model_validate(chat)
    assert parsed.required_capabilities == {"tools", "response_format", "structured_outputs"}
    assert chat_request(request(tool_choice="required"))["tool_choice"] == "required"
    assert chat_request(request(text={"format": {"type": "json_object"}}))["response_format"] == {
        "type": "json_object"
    }
    assert "response_format" not in chat_request(request(text={"format": {"type": "text"}}))


def test_store_and_metadata_stay_with_veil():
    chat = chat_request(request(store=True, metadata={"team": "a"}))
    assert "store" not in chat
    assert "metadata" not in chat
    assert wants_storage(request(store=True))
    assert not wants_storage(request(store=False))
    assert not wants_storage(request())  # absent is false, unlike OpenAI's default


def test_harmless_fields_are_accepted():
    chat = chat_request(
        request(
            include=["reasoning.encrypted_content"],
            truncation="disabled",
            stream_options={"include_obfuscation": False},
            background=False,
            previous_response_id=None,
        )
    )
    assert chat["messages"] == [{"role": "user", "content": "hi"}]


def test_the_sdk_request_round_trips_through_veil():
    """`client.responses.create(...)` as the SDK sends it, answered as veil would."""
    sent: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> httpx2.Response:
        sent.append(chat_request(body))
        done = completion(
            content=None,
            tool_calls=[
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
            finish_reason="tool_calls",
        )
        return httpx2.Response(200, json=response_object(done, body))

    client = sdk_client(answer)
    first = client.responses.create(
        model=MODEL, input="Weather in Paris?", instructions="Be brief.", tools=[WEATHER]
    )
    call = first.output[0]
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == (
        "call_9",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert first.id == GEN
    assert first.instructions == "Be brief."
    assert first.tools[0].name == "get_weather"

    # The stateless follow-up: the whole conversation, the output appended, the call answered.
    follow_up = [
        {"role": "user", "content": "Weather in Paris?"},
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": "18C"},
    ]
    client.responses.create(model=MODEL, input=follow_up, tools=[WEATHER])
    assert sent[1]["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "18C"},
    ]


# -- refusals -----------------------------------------------------------------------------


def test_unknown_fields_are_named():
    error = refused(request(frequency_penalty=0.5, max_tool_calls=3))
    assert "frequency_penalty" in error.message
    assert "max_tool_calls" in error.message
    assert error.metadata == {"unsupported_fields": ["frequency_penalty", "max_tool_calls"]}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("previous_response_id", "resp_123"),
        ("conversation", "conv_123"),
        ("background", True),
        ("prompt", {"id": "pmpt_123"}),
    ],
)
def test_stateful_fields_are_refused_by_name(field, value):
    error = refused(request(**{field: value}))
    assert error.message.startswith(f"{field} is not supported")
    assert error.metadata == {"unsupported_fields": [field]}


def test_includes_that_need_storage_are_refused():
    error = refused(request(include=["file_search_call.results", "reasoning.encrypted_content"]))
    assert "file_search_call.results" in error.message
    assert "reasoning.encrypted_content" not in error.message


def test_truncation_auto_is_refused():
    assert "truncation" in refused(request(truncation="auto")).message


@pytest.mark.parametrize("tool", ["web_search", "file_search", "code_interpreter", "mcp"])
def test_hosted_tools_are_refused_by_name(tool):
    error = refused(request(tools=[WEATHER, {"type": tool}]))
    assert f"veil does not offer the {tool} tool" in error.message


def test_hosted_tool_choices_and_unknown_items_and_parts_are_refused():
    assert (
        "web_search_preview" in refused(request(tool_choice={"type": "web_search_preview"})).message
    )
    assert (
        "item_reference" in refused(request(input=[{"type": "item_reference", "id": "x"}])).message
    )
    audio = {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
    assert "input_audio" in refused(request(input=[{"role": "user", "content": [audio]}])).message
    by_id = {"type": "input_image", "file_id": "file-1"}
    assert "file_id" in refused(request(input=[{"role": "user", "content": [by_id]}])).message


def test_invalid_values_are_refused_without_echoing_the_prompt():
    error = refused({"model": MODEL, "input": [{"role": "robot", "content": "my secret"}]})
    assert "my secret" not in error.message
    assert "input" in error.message
    assert "input is required" in refused({"model": MODEL, "input": []}).message
    assert "temperature" in refused(request(temperature=3)).message
    assert "store" in refused(request(store="yes")).message


# -- the Response object ------------------------------------------------------------------


def test_a_completion_is_a_response_the_sdk_accepts():
    body = request(instructions="Be brief.", tools=[WEATHER], temperature=0.3, metadata={"a": "b"})
    response = Response.model_validate(response_object(completion(), body))
    assert response.id == GEN
    assert response.object == "response"
    assert response.status == "completed"
    assert response.created_at == 1700000000
    assert response.model == MODEL
    assert response.output_text == "Hello!"
    message = response.output[0]
    assert message.type == "message"
    assert message.status == "completed"
    assert message.content[0].type == "output_text"
    assert message.content[0].annotations == []
    assert response.instructions == "Be brief."
    assert response.temperature == 0.3
    assert response.metadata == {"a": "b"}
    assert response.tool_choice == "auto"
    assert response.parallel_tool_calls is True
    assert response.text is not None
    assert response.text.format is not None
    assert response.text.format.type == "text"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 5)
    assert response.usage.total_tokens == 17
    assert response.usage.input_tokens_details.cached_tokens == 4
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    assert response.store is False


def test_text_and_function_calls_are_output_items_in_order():
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]
    done = completion(content="Calling.", tool_calls=calls, finish_reason="tool_calls")
    response = Response.model_validate(response_object(done, request(tools=[WEATHER])))
    assert [item.type for item in response.output] == ["message", "function_call", "function_call"]
    assert [item.id for item in response.output] == [f"msg_{GEN}_0", f"fc_{GEN}_1", f"fc_{GEN}_2"]
    assert [(o.call_id, o.name, o.arguments) for o in response.output[1:]] == [
        ("call_1", "f", '{"x":1}'),
        ("call_2", "g", "{}"),
    ]
    assert all(item.status == "completed" for item in response.output)


def test_truncation_by_max_output_tokens_is_incomplete():
    done = completion(content="Once upon a", finish_reason="length")
    response = Response.model_validate(response_object(done, request(max_output_tokens=3)))
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 3
    assert response.output[0].status == "incomplete"
    assert response.output_text == "Once upon a"


def test_the_echo_fields_echo_themselves():
    body = request(
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        text={"format": {"type": "json_object"}},
        store=True,
    )
    echo = echo_fields(body)
    assert echo_fields(echo) == echo
    assert response_object(completion(), echo) == response_object(completion(), body)
    Response.model_validate(response_object(completion(), echo))


# -- the stream ---------------------------------------------------------------------------


def test_streamed_text_events_in_openai_order():
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo!"}, finish_reason="stop"),
        usage_chunk(),
    ]
    events = parse_sse(stream_bytes(chunks))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["status"] == "in_progress"
    assert events[6]["text"] == "Hello!"
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == "Hello!"
    assert final.usage is not None
    assert final.usage.total_tokens == 17


def test_the_sdk_accumulates_a_streamed_text():
    chunks = [chunk({"content": "Hel"}), chunk({"content": "lo!"}, "stop"), usage_chunk()]
    client = sdk_client(lambda body: sse_answer(stream_bytes(chunks, body)))
    with client.responses.stream(model=MODEL, input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Hel", "lo!"]
    assert final.output_text == "Hello!"
    assert final.id == GEN
    assert final.status == "completed"
    assert final.usage is not None
    assert final.usage.input_tokens == 12


def test_a_streamed_function_call_in_fragments():
    chunks = [
        chunk({"content": "Checking."}),
        chunk(call_fragment(0, "", call_id="call_p", name="get_weather")),
        chunk(call_fragment(0, '{"ci')),
        chunk(call_fragment(0, 'ty":"Pa')),
        chunk(call_fragment(1, '{"city"', call_id="call_o", name="get_weather")),
        chunk(call_fragment(0, 'ris"}')),
        chunk(call_fragment(1, ':"Oslo"}'), finish_reason="tool_calls"),
        usage_chunk(),
    ]
    data = stream_bytes(chunks, request(stream=True, tools=[WEATHER]))
    events = parse_sse(data)
    types = [e["type"] for e in events]
    # The message is done before the first call starts, as OpenAI's items follow one another.
    assert types.index("response.output_item.done") < types.index(
        "response.function_call_arguments.delta"
    )
    assert types.count("response.function_call_arguments.delta") == 5
    assert types.count("response.function_call_arguments.done") == 2
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert [(i["type"], i.get("call_id")) for i in added] == [
        ("message", None),
        ("function_call", "call_p"),
        ("function_call", "call_o"),
    ]
    arguments_done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [e["arguments"] for e in arguments_done] == ['{"city":"Paris"}', '{"city":"Oslo"}']

    client = sdk_client(lambda body: sse_answer(data))
    with client.responses.stream(model=MODEL, input="Weather?", tools=[WEATHER]) as stream:
        final = stream.get_final_response()
    assert final.output_text == "Checking."
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("call_p", "get_weather", '{"city":"Paris"}'),
        ("call_o", "get_weather", '{"city":"Oslo"}'),
    ]
    assert [c.parsed_arguments for c in calls] == [{"city": "Paris"}, {"city": "Oslo"}]


def test_a_streamed_truncation_is_incomplete():
    chunks = [chunk({"content": "Once upon"}), chunk({"content": " a"}, "length"), usage_chunk()]
    data = stream_bytes(chunks, request(stream=True, max_output_tokens=3))
    events = parse_sse(data)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}

    client = sdk_client(lambda body: sse_answer(data))
    with client.responses.stream(model=MODEL, input="hi", max_output_tokens=3) as stream:
        last = list(stream)[-1]
    assert isinstance(last, ResponseIncompleteEvent)
    assert last.response.status == "incomplete"
    assert last.response.output_text == "Once upon a"
    assert last.response.usage is not None


def test_the_raw_sdk_stream_parses_every_event():
    chunks = [chunk({"content": "Hi"}, "stop"), usage_chunk()]
    client = sdk_client(lambda body: sse_answer(stream_bytes(chunks, body)))
    events = list(client.responses.create(model=MODEL, input="hi", stream=True))
    assert isinstance(events[-1], ResponseCompletedEvent)
    assert events[-1].response.output_text == "Hi"


def test_an_empty_answer_is_still_a_message():
    events = parse_sse(stream_bytes([chunk({}, "stop")]))
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == ""
    assert final.usage is None  # no usage chunk came


def test_a_failure_mid_stream_is_response_failed():
    stream = ResponseStream(GEN, MODEL, request(stream=True))
    data = stream.feed(chunk({"content": "Hel"})) + stream.error("upstream went away")
    data += stream.feed(chunk({"content": "lo"})) + stream.close()  # nothing after the end
    events = parse_sse(data)
    assert events[-1]["type"] == "response.failed"
    failed = ResponseFailedEvent.model_validate(events[-1])
    assert failed.response.status == "failed"
    assert failed.response.error is not None
    assert failed.response.error.code == "server_error"
    assert failed.response.error.message == "upstream went away"
    assert failed.response.output[0].status == "incomplete"

    client = sdk_client(lambda body: sse_answer(data))
    with client.responses.stream(model=MODEL, input="hi") as sdk_stream:
        last = list(sdk_stream)[-1]
    assert isinstance(last, ResponseFailedEvent)


def test_veils_error_chunk_fails_the_response():
    error_chunk = {
        **chunk({}, "error"),
        "error": {"code": 429, "message": "Rate limited", "metadata": {"error_type": "x"}},
    }
    stream = ResponseStream(GEN, MODEL, request(stream=True))
    events = parse_sse(stream.feed(error_chunk) + stream.close())
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    assert events[-1]["response"]["error"] == {
        "code": "rate_limit_exceeded",
        "message": "Rate limited",
    }


def test_an_unknown_error_code_is_a_server_error():
    events = parse_sse(ResponseStream(GEN, MODEL, request()).error("boom", code="teapot"))
    assert events[-1]["response"]["error"]["code"] == "server_error"


def test_start_announces_once():
    stream = ResponseStream(GEN, MODEL, request(stream=True))
    assert [e["type"] for e in parse_sse(stream.start())] == [
        "response.created",
        "response.in_progress",
    ]
    assert stream.start() == b""
