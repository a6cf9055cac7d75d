"""What a sample holds of a request (`prompt_text`, used by policy, and by a gateway
holding a large body): the user's own words."""

from veil.schemas.categories import SAMPLE_MAX_CHARS, prompt_text
from veil.schemas.chat import ChatRequest


def request(*messages: dict) -> ChatRequest:
    return ChatRequest.model_validate({"model": "acme/model", "messages": list(messages)})


def test_the_last_user_turn_comes_first_then_earlier_ones():
    text = prompt_text(
        request(
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "the follow-up"},
        )
    )
    assert text == "the follow-up\nfirst question"


def test_only_the_users_text_is_sampled():
    text = prompt_text(
        request(
            {"role": "system", "content": "You are ACME Corp's assistant. SECRET-PROMPT"},
            {"role": "developer", "content": "internal instructions"},
            {"role": "user", "content": "how do I reset my router"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "TOOL-RESULT account 42"},
        )
    )
    assert text == "how do I reset my router"


def test_parts_that_are_not_text_are_left_out():
    text = prompt_text(
        request(
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "text", "text": "what is in this picture?"},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                ],
            }
        )
    )
    assert text == "what is in this picture?"


def test_empty_and_tool_only_requests_give_nothing_to_sample():
    assert prompt_text(request({"role": "user", "content": ""})) == ""
    assert prompt_text(request({"role": "user", "content": "   \n"})) == ""
    assert prompt_text(request({"role": "system", "content": "be brief"})) == ""
    tool_results_only = request(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "result"},
    )
    assert prompt_text(tool_results_only) == ""


def test_the_sample_is_bounded_and_the_last_turn_kept_whole_first():
    last = "L" * (SAMPLE_MAX_CHARS - 10)
    text = prompt_text(
        request(
            {"role": "user", "content": "E" * 5000},
            {"role": "user", "content": last},
        )
    )
    assert len(text) <= SAMPLE_MAX_CHARS
    assert text.startswith(last)
    huge = prompt_text(request({"role": "user", "content": "x" * 100_000}))
    assert len(huge) == SAMPLE_MAX_CHARS
