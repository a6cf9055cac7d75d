"""The upstream simulator's Anthropic Messages endpoint over a real socket."""

from __future__ import annotations

import json

import httpx
import pytest

MSGS = "/claude/v1/messages"
HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-secret"}
# system 2 words + 3 words + 4 words (two blocks) + one per message.
PROMPT_TOKENS = 11


def msg_body(**extra):
    return {
        "model": "claude-x",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": "what is up"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "one two"},
                    {"type": "text", "text": "three four"},
                ],
            },
        ],
        **extra,
    }


async def test_non_streaming_message(client, control):
    r = await client.post(MSGS, json=msg_body(), headers=HEADERS)
    assert r.status_code == 200
    body = r.json()
    assert body["id"].startswith("msg_")
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["model"] == "claude-x"
    assert body["content"] == [
        {"type": "text", "text": "Simulated reply from claude: w1 w2 w3 w4 w5 w6 w7 w8"}
    ]
    assert body["stop_reason"] == "end_turn"
    assert body["stop_sequence"] is None
    assert body["usage"] == {"input_tokens": PROMPT_TOKENS, "output_tokens": 12}
    (rec,) = await control.requests("claude")
    assert rec.api == "anthropic"
    assert rec.auth_present is True
    assert rec.headers["anthropic-version"] == "2023-06-01"
    assert "sk-ant-secret" not in rec.model_dump_json()


async def test_max_tokens_cap(client):
    body = (await client.post(MSGS, json=msg_body(max_tokens=2), headers=HEADERS)).json()
    assert body["stop_reason"] == "max_tokens"
    assert body["content"][0]["text"] == "Simulated reply"
    assert body["usage"]["output_tokens"] == 2


async def test_streaming_event_sequence(client, parse_sse):
    r = await client.post(MSGS, json=msg_body(stream=True, max_tokens=6), headers=HEADERS)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 6,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start["usage"] == {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}
    assert start["content"] == []
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    assert text == "Simulated reply from claude: w1 w2"
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
    assert delta["usage"] == {"output_tokens": 6}


async def test_invalid_requests_get_400(client):
    r = await client.post(MSGS, json=msg_body())
    assert r.status_code == 400
    assert r.json()["type"] == "error"
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in r.json()["error"]["message"]

    body = msg_body()
    del body["max_tokens"]
    r = await client.post(MSGS, json=body, headers=HEADERS)
    assert r.status_code == 400
    assert "max_tokens" in r.json()["error"]["message"]


async def test_error_scenarios_use_anthropic_types(client, control):
    await control.add(provider="claude", status=529, retry_after=3, times=1)
    await control.add(provider="claude", status=429, times=1)
    r = await client.post(MSGS, json=msg_body(), headers=HEADERS)
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "rate_limit_error"
    r = await client.post(MSGS, json=msg_body(), headers=HEADERS)
    assert r.status_code == 529
    assert r.headers["retry-after"] == "3"
    assert r.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "simulated upstream error"},
    }


async def test_tool_use(client, control, parse_sse):
    args = {"query": "weather in Oslo", "limit": 3}
    await control.add(tool_call={"name": "search", "arguments": args})
    body = (await client.post(MSGS, json=msg_body(), headers=HEADERS)).json()
    assert body["stop_reason"] == "tool_use"
    (block,) = body["content"]
    assert block["type"] == "tool_use"
    assert block["id"].startswith("toolu_")
    assert block["name"] == "search"
    assert block["input"] == args

    events = parse_sse((await client.post(MSGS, json=msg_body(stream=True), headers=HEADERS)).text)
    opening = events[1][1]["content_block"]
    assert opening["type"] == "tool_use"
    assert opening["name"] == "search"
    partial = [
        data["delta"]["partial_json"]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == "input_json_delta"
    ]
    assert len(partial) >= 1
    assert json.loads("".join(partial)) == args
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


async def test_streaming_failure_modes(client, control, parse_sse):
    await control.add(truncate_after_chunks=1, times=1)
    events = parse_sse((await client.post(MSGS, json=msg_body(stream=True), headers=HEADERS)).text)
    names = [name for name, _ in events]
    assert names[-1] == "content_block_delta"
    assert "message_stop" not in names

    await control.add(fail_after_chunks=2, times=1)
    lines = []

    async def read_all() -> None:
        async with client.stream("POST", MSGS, json=msg_body(stream=True), headers=HEADERS) as r:
            async for line in r.aiter_lines():
                lines.append(line)

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await read_all()
    assert lines.count("event: content_block_delta") == 2
    assert "event: message_stop" not in lines

    await control.add(malformed=True, times=1)
    r = await client.post(MSGS, json=msg_body(stream=True), headers=HEADERS)
    with pytest.raises(json.JSONDecodeError):
        parse_sse(r.text)
