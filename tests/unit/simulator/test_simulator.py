"""The upstream simulator over a real socket: OpenAI format, control API, recording."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import httpx
import pytest

from veil.simulator.control import SimulatorControl
from veil.simulator.scenarios import Scenario
from veil.simulator.state import SimState

CHAT = "/acme/v1/chat/completions"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": [{"type": "text", "text": "hello there simulator"}]},
]
# 3 + 3 words, plus one per message.
PROMPT_TOKENS = 8


def chat_body(**extra):
    return {"model": "acme-large", "messages": MESSAGES, **extra}


def data_events(parse_sse, text):
    return [data for _, data in parse_sse(text)]


def content_of(chunks):
    return "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in chunks
        if isinstance(c, dict) and c["choices"]
    )


async def test_non_streaming_shape_and_usage(client):
    r = await client.post(CHAT, json=chat_body())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "acme-large"
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Simulated reply from acme: w1 w2 w3 w4 w5 w6 w7 w8",
    }
    assert body["usage"] == {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": 12,
        "total_tokens": 20,
    }


async def test_streaming_sequence_and_optional_usage(client, parse_sse):
    r = await client.post(CHAT, json=chat_body(stream=True))
    assert r.headers["content-type"].startswith("text/event-stream")
    chunks = data_events(parse_sse, r.text)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1] == "[DONE]"
    finish = chunks[-2]
    assert finish["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    words = chunks[1:-2]
    assert len(words) == 12
    assert all(c["object"] == "chat.completion.chunk" for c in chunks[:-1])
    assert len({c["id"] for c in chunks[:-1]}) == 1
    assert all("usage" not in c for c in chunks[:-1])
    assert content_of(chunks) == "Simulated reply from acme: w1 w2 w3 w4 w5 w6 w7 w8"

    r = await client.post(CHAT, json=chat_body(stream=True, stream_options={"include_usage": True}))
    chunks = data_events(parse_sse, r.text)
    assert chunks[-1] == "[DONE]"
    usage = chunks[-2]
    assert usage["choices"] == []
    assert usage["usage"] == {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": 12,
        "total_tokens": 20,
    }
    assert chunks[-3]["choices"][0]["finish_reason"] == "stop"


async def test_no_usage_omits_usage_everywhere(client, control, parse_sse):
    await control.add(no_usage=True)
    assert "usage" not in (await client.post(CHAT, json=chat_body())).json()
    r = await client.post(CHAT, json=chat_body(stream=True, stream_options={"include_usage": True}))
    chunks = data_events(parse_sse, r.text)
    assert chunks[-1] == "[DONE]"
    assert all("usage" not in c for c in chunks[:-1])


async def test_token_cap_gives_length(client, parse_sse):
    body = (await client.post(CHAT, json=chat_body(max_tokens=5))).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["choices"][0]["message"]["content"] == "Simulated reply from acme: w1"
    assert body["usage"]["completion_tokens"] == 5

    # max_completion_tokens takes precedence over the legacy max_tokens.
    r = await client.post(CHAT, json=chat_body(stream=True, max_completion_tokens=3, max_tokens=50))
    chunks = data_events(parse_sse, r.text)
    assert content_of(chunks) == "Simulated reply from"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


async def test_reply_text_is_exact_and_streams_back_identically(client, control, parse_sse):
    await control.add(reply_text="Hello,  world!\nBye")
    body = (await client.post(CHAT, json=chat_body())).json()
    assert body["choices"][0]["message"]["content"] == "Hello,  world!\nBye"
    assert body["usage"]["completion_tokens"] == 3
    chunks = data_events(parse_sse, (await client.post(CHAT, json=chat_body(stream=True))).text)
    assert content_of(chunks) == "Hello,  world!\nBye"


async def test_error_status_with_retry_after(client, control):
    await control.add(status=429, retry_after=7, error_message="slow down")
    r = await client.post(CHAT, json=chat_body(stream=True))
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    error = r.json()["error"]
    assert error["message"] == "slow down"
    assert error["type"] == "rate_limit_error"
    assert "code" in error


async def test_times_expires_and_newest_match_wins(client, control):
    await control.add(status=500)
    await control.add(provider="acme", status=503, times=2)
    await control.add(provider="other", status=418)
    codes = [(await client.post(CHAT, json=chat_body())).status_code for _ in range(4)]
    assert codes == [503, 503, 500, 500]

    await control.reset()
    await control.add(model="acme-small", status=404)
    assert (await client.post(CHAT, json=chat_body())).status_code == 200
    assert (await client.post(CHAT, json=chat_body(model="acme-small"))).status_code == 404


async def test_latency_delays_the_response(client, control):
    await control.add(latency_ms=200)
    started = time.perf_counter()
    r = await client.post(CHAT, json=chat_body())
    assert r.status_code == 200
    assert time.perf_counter() - started >= 0.19


async def test_malformed_bodies(client, control):
    await control.add(malformed=True)
    r = await client.post(CHAT, json=chat_body())
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)

    r = await client.post(CHAT, json=chat_body(stream=True))
    payloads = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
    bad = [p for p in payloads if p != "[DONE]" and not _is_json(p)]
    assert len(bad) == 1


def _is_json(text):
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


async def test_fail_after_chunks_aborts_without_done(client, control):
    await control.add(fail_after_chunks=3)
    lines = []

    async def read_all() -> None:
        async with client.stream("POST", CHAT, json=chat_body(stream=True)) as r:
            async for line in r.aiter_lines():
                lines.append(line)

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await read_all()
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert content_of(data) == "Simulated reply from "
    assert all(c["choices"][0]["finish_reason"] is None for c in data)
    (rec,) = await control.requests("acme")
    assert rec.chunks_sent == 3
    assert not rec.completed


async def test_truncate_after_chunks_ends_cleanly_without_finish(client, control, parse_sse):
    await control.add(truncate_after_chunks=2)
    r = await client.post(CHAT, json=chat_body(stream=True))
    assert r.status_code == 200
    chunks = data_events(parse_sse, r.text)
    assert "[DONE]" not in chunks
    assert content_of(chunks) == "Simulated reply "
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


async def test_tool_call_openai(client, control, parse_sse):
    args = {"city": "Paris", "units": "metric"}
    await control.add(tool_call={"name": "get_weather", "arguments": args})
    body = (await client.post(CHAT, json=chat_body())).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == args

    chunks = data_events(parse_sse, (await client.post(CHAT, json=chat_body(stream=True))).text)
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    first = deltas[0]["tool_calls"][0]
    assert first["function"]["name"] == "get_weather"
    assert first["id"]
    arguments = "".join(
        d["tool_calls"][0]["function"]["arguments"] for d in deltas if d.get("tool_calls")
    )
    assert json.loads(arguments) == args
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1] == "[DONE]"


async def test_bad_request_body_is_rejected(client):
    r = await client.post(CHAT, content=b"not json")
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


async def test_requests_are_recorded_without_secrets(client, control):
    headers = {"Authorization": "Bearer sk-very-secret"}
    await client.post(CHAT, json=chat_body(), headers=headers)
    await client.post("/other/v1/chat/completions", json=chat_body(stream=True))
    everything = await control.requests()
    assert [r.provider for r in everything] == ["acme", "other"]
    (rec,) = await control.requests("acme")
    assert rec.api == "openai"
    assert rec.path == CHAT
    assert rec.model == "acme-large"
    assert rec.body["messages"] == MESSAGES
    assert rec.auth_present is True
    assert rec.headers["content-type"] == "application/json"
    assert rec.headers["api-key"] is False
    assert rec.completed
    assert not rec.cancelled
    assert "sk-very-secret" not in rec.model_dump_json()
    (other,) = await control.requests("other")
    assert other.stream is True
    assert other.auth_present is False
    assert other.chunks_sent == 12


async def test_client_disconnect_is_recorded_as_cancelled(client, control):
    await control.add(chunk_delay_ms=100, completion_tokens=40)
    async with client.stream("POST", CHAT, json=chat_body(stream=True)) as r:
        async for line in r.aiter_lines():
            if '"content":"Simulated' in line.replace(" ", ""):
                break
    # Leaving the block closes the connection mid-stream.
    deadline = time.monotonic() + 2
    rec = None
    while time.monotonic() < deadline:
        (rec,) = await control.requests("acme")
        if rec.cancelled:
            break
        await asyncio.sleep(0.05)
    assert rec is not None
    assert rec.cancelled
    assert not rec.completed
    assert 1 <= rec.chunks_sent < 40


async def test_chunks_are_flushed_as_written(client, control):
    await control.add(chunk_delay_ms=100, completion_tokens=5)
    started = time.perf_counter()
    arrivals = []
    async with client.stream("POST", CHAT, json=chat_body(stream=True)) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                arrivals.append(time.perf_counter() - started)
    # role chunk, 5 words, finish, [DONE]
    assert len(arrivals) == 8
    assert arrivals[1] < 0.3
    assert arrivals[-1] - arrivals[1] >= 0.35


async def test_control_validates_scenarios(control, sim_url):
    with pytest.raises(ValueError, match="stauts"):
        await control.add(stauts=500)
    async with httpx.AsyncClient(base_url=sim_url) as http:
        r = await http.post("/_sim/scenarios", json={"status": 200})
        assert r.status_code == 422
        assert (await http.get("/_sim/health")).json() == {"ok": True}
    added = await control.add(status=502, times=1)
    assert added["id"]
    assert added["status"] == 502
    assert await control.remove(added["id"]) is True
    assert await control.health() is True


def test_record_log_keeps_only_the_newest():
    state = SimState(max_recorded=3)
    for i in range(5):
        state.records.append({"provider": "p", "n": i})
    assert [r["n"] for r in state.list_records("p")] == [2, 3, 4]
    assert state.pick("p", "m") == Scenario()


async def test_module_entry_point_serves_until_sigterm():
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "veil.simulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        assert line.startswith("simulator ready: http://127.0.0.1:")
        ctl = SimulatorControl(line.split(" ", 2)[2])
        assert await ctl.health()
        await ctl.aclose()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
