"""The prompt log's view of a completion: what the client received, reassembled."""

from veil.dispatcher.content import CompletionLog
from veil.schemas.errors import ErrorBody


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_a_whole_response_is_kept_as_received():
    log = CompletionLog()
    log.response(
        {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": "It is sunny.",
                        "tool_calls": [{"id": "c1", "type": "function"}],
                    },
                    "finish_reason": "stop",
                }
            ]
        }
    )
    kept = log.logged()
    assert kept.content == "It is sunny."
    assert kept.tool_calls == [{"id": "c1", "type": "function"}]
    assert kept.finish_reason == "stop"
    assert kept.error is None


def test_streamed_text_and_tool_call_deltas_are_reassembled():
    log = CompletionLog()
    log.chunk(chunk({"role": "assistant", "content": "Hel"}))
    log.chunk(chunk({"content": "lo"}))
    call = {"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": ""}}
    log.chunk(chunk({"tool_calls": [call]}))
    log.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}))
    log.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}))
    log.chunk(chunk({}, "tool_calls"))
    log.chunk({"choices": [], "usage": {"prompt_tokens": 3}})  # the usage chunk adds nothing
    kept = log.logged()
    assert kept.content == "Hello"
    assert kept.tool_calls == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
        }
    ]
    assert kept.finish_reason == "tool_calls"


def test_an_error_after_some_text_keeps_both():
    log = CompletionLog()
    log.chunk(chunk({"content": "partial"}))
    log.failed(ErrorBody(code=502, message="the upstream connection failed"))
    kept = log.logged()
    assert kept.content == "partial"
    assert kept.finish_reason == "error"
    assert kept.error == {"code": 502, "message": "the upstream connection failed"}


def test_nothing_received_is_none_not_empty_text():
    kept = CompletionLog().logged()
    assert kept.content is None
    assert kept.tool_calls is None
