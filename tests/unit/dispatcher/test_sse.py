"""The server-sent-events reader: events come out whole however the socket cut the body."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from veil.dispatcher.upstreams.base import sse_events

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def events(data: bytes, size: int = 1 << 16) -> list[tuple[str | None, bytes]]:
    return [event async for event in sse_events(pieces(data, size))]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
async def test_pieces_of_any_size_give_the_same_events(size):
    body = (FIXTURES / "stream_tool_use.sse").read_bytes()
    whole = await events(body)
    assert len(whole) > 5
    assert all(name for name, _ in whole)
    assert await events(body, size) == whole


async def test_crlf_line_endings_and_comments():
    body = b': keep-alive\r\n\r\nevent: message_start\r\ndata: {"a": 1}\r\n\r\ndata: [DONE]\r\n\r\n'
    assert await events(body, 5) == [("message_start", b'{"a": 1}'), (None, b"[DONE]")]


async def test_multi_line_data_is_joined_and_an_unterminated_last_event_still_counts():
    body = b'data: {"x":\ndata: 2}\n\ndata: [DONE]'
    assert await events(body, 4) == [(None, b'{"x":\n2}'), (None, b"[DONE]")]


async def test_a_line_longer_than_any_read_buffer():
    payload = b'{"content": "' + b"x" * 300_000 + b'"}'
    body = b"data: " + payload + b"\n\ndata: [DONE]\n\n"
    assert await events(body, 4096) == [(None, payload), (None, b"[DONE]")]
