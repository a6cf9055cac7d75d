"""The chat-completions request as the gateway accepts it and a provider receives it."""

import pytest
from pydantic import ValidationError

from veil.schemas.chat import ChatRequest

# Short enough that pydantic would not truncate it out of an error message.
PROMPT = "my rash itches"
MESSAGES = [{"role": "user", "content": "hi"}]


def chat(**fields) -> ChatRequest:
    return ChatRequest.model_validate({"messages": MESSAGES, **fields})


def test_a_model_or_a_models_list_is_required():
    assert chat(model="acme/large").candidate_models == ["acme/large"]
    assert chat(models=["acme/large"]).candidate_models == ["acme/large"]
    for fields in ({}, {"models": []}, {"model": "", "models": None}):
        with pytest.raises(ValidationError, match="either `model` or `models` is required"):
            chat(**fields)


def test_at_least_one_message_is_required():
    with pytest.raises(ValidationError, match="messages"):
        ChatRequest.model_validate({"model": "acme/large", "messages": []})


def test_candidate_models_are_the_primary_then_fallbacks_without_repeats():
    request = chat(model="a/one", models=["b/two", "a/one", "c/three", "b/two"])
    assert request.candidate_models == ["a/one", "b/two", "c/three"]


def test_candidate_models_keep_the_fallback_order_without_a_primary():
    assert chat(models=["c/three", "a/one", "c/three"]).candidate_models == ["c/three", "a/one"]


def test_parameters_are_the_sampling_fields_the_request_sets():
    request = chat(
        model="acme/large",
        models=["acme/small"],
        stream=True,
        stream_options={"include_usage": True},
        provider={"require_parameters": True},
        user="u-1",
        metadata={"team": "x"},
        temperature=0.2,
        top_k=40,
        max_tokens=64,
    )
    assert request.parameters == {"temperature", "top_k", "max_tokens"}


def test_parameters_are_empty_for_a_bare_request():
    assert chat(model="acme/large").parameters == set()


def test_upstream_body_drops_routing_fields_and_keeps_the_rest():
    request = chat(
        model="acme/large",
        models=["acme/small"],
        provider={"order": ["groq"], "allow_fallbacks": False},
        temperature=0.2,
        x_vendor_flag={"nested": [1, 2]},
        max_tokens=64,
        stream=True,
    )
    body = request.upstream_body()

    assert "model" not in body
    assert "models" not in body
    assert "provider" not in body
    assert body == {
        "messages": MESSAGES,
        "temperature": 0.2,
        "x_vendor_flag": {"nested": [1, 2]},
        "max_tokens": 64,
    }  # stream is the adapter's to set


def test_upstream_body_leaves_out_fields_the_client_did_not_send():
    body = chat(model="acme/large").upstream_body()
    assert body == {"messages": MESSAGES}


def test_upstream_body_keeps_content_blocks_and_extra_message_fields():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "look"}], "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function"}]},
        {"role": "tool", "content": "42", "tool_call_id": "t1"},
    ]
    body = ChatRequest.model_validate({"model": "a/b", "messages": messages}).upstream_body()
    assert body["messages"] == messages


@pytest.mark.parametrize(
    "body",
    [
        # the model-or-models rule, checked on the whole body
        {"messages": [{"role": "user", "content": PROMPT}]},
        # a bad role next to the prompt
        {"model": "a/b", "messages": [{"role": "customer", "content": PROMPT}]},
        # content of the wrong shape
        {"model": "a/b", "messages": [{"role": "user", "content": {"text": PROMPT}}]},
        {"model": "a/b", "messages": [{"role": "user", "content": [PROMPT]}]},
        # messages that are not a list
        {"model": "a/b", "messages": PROMPT},
        # an invalid sibling field of a valid prompt
        {"model": "a/b", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 0},
        {"model": "a/b", "messages": [{"role": "user", "content": PROMPT}], "stream": "soon"},
    ],
)
def test_validation_errors_never_echo_the_prompt(body):
    with pytest.raises(ValidationError) as caught:
        ChatRequest.model_validate(body)
    message = str(caught.value)
    assert PROMPT not in message
    assert "input_value" not in message
