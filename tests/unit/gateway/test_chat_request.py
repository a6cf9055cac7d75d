"""The chat-completions request as the gateway accepts it and a provider receives it."""

import orjson
import pytest
from openrouter import components, utils
from pydantic import ValidationError

from veil.gateway.body import parse_chat_request
from veil.schemas.chat import ChatRequest, RoutingSummary, upstream_body
from veil.schemas.errors import VeilError

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


def validated(**fields) -> dict:
    """A body as the dispatcher gets it: accepted by the gateway, then parsed as JSON."""
    raw = orjson.dumps({"messages": MESSAGES, **fields})
    parse_chat_request(raw)
    return orjson.loads(raw)


def test_upstream_body_drops_routing_fields_and_keeps_the_rest():
    body = upstream_body(
        validated(
            model="acme/large",
            models=["acme/small"],
            provider={"order": ["groq"], "allow_fallbacks": False},
            temperature=0.2,
            x_vendor_flag={"nested": [1, 2]},
            max_tokens=64,
            stream=True,
        )
    )

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
    assert upstream_body(validated(model="acme/large")) == {"messages": MESSAGES}


def test_upstream_body_leaves_out_top_level_nulls():
    # null is "not set", as require_parameters reads it: the provider's default applies.
    body = upstream_body(validated(model="acme/large", max_tokens=None, temperature=None, seed=1))
    assert body == {"messages": MESSAGES, "seed": 1}


def test_upstream_body_keeps_content_blocks_and_extra_message_fields():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "look"}], "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function"}]},
        {"role": "tool", "content": "42", "tool_call_id": "t1"},
    ]
    body = upstream_body(validated(model="a/b", messages=messages))
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


# --- what OpenRouter's clients send today ----------------------------------------------


def test_the_official_sdks_request_with_every_provider_preference_is_accepted():
    sent = components.ChatRequest(
        model="acme/large:nitro",
        models=["acme/small:floor"],
        messages=[{"role": "user", "content": "hi"}],
        provider=components.ProviderPreferences(
            allow_fallbacks=None,  # the SDK sends explicit nulls for fields the user set
            data_collection="deny",
            zdr=None,
            order=["deepinfra/bf16", "together"],
            only=["deepinfra"],
            ignore=["groq/unknown"],
            quantizations=["fp8", "bf16"],
            require_parameters=True,
            sort=components.ProviderSortConfig(by="throughput", partition="none"),
            max_price={"prompt": "1", "completion": "2", "request": "0", "image": "0"},
            preferred_max_latency=components.PercentileLatencyCutoffs(p50=1.5, p90=None),
            preferred_min_throughput=50,
            enforce_distillable_text=False,
            options={"deepinfra": {"priority": "high"}},
        ),
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    )
    request = parse_chat_request(utils.marshal_json(sent, components.ChatRequest).encode())
    prefs = request.provider
    assert prefs is not None
    assert prefs.allow_fallbacks is True
    assert prefs.zdr is None
    assert prefs.data_collection == "deny"
    assert (prefs.sort_by, prefs.sort_partition) == ("throughput", "none")
    assert prefs.order == ["deepinfra/bf16", "together"]
    assert prefs.max_price is not None
    assert prefs.max_price.request == 0
    assert request.candidate_models == ["acme/large", "acme/small"]
    assert request.suffix_sorts == {"acme/large": "throughput", "acme/small": "price"}
    assert request.required_capabilities == {"tools"}


@pytest.mark.parametrize(
    ("field_name", "default"),
    [
        ("allow_fallbacks", True),
        ("require_parameters", False),
        ("data_collection", "allow"),
        ("zdr", None),
        ("order", None),
        ("only", None),
        ("ignore", None),
        ("quantizations", None),
        ("sort", None),
        ("max_price", None),
        ("preferred_max_latency", None),
        ("preferred_min_throughput", None),
        ("enforce_distillable_text", None),
        ("options", None),
    ],
)
def test_a_null_provider_field_takes_its_default(field_name, default):
    request = chat(model="acme/large", provider={field_name: None})
    assert getattr(request.provider, field_name) == default


def test_nulls_for_the_whole_provider_object_and_stream():
    request = chat(model="acme/large", provider=None, stream=None)
    assert request.provider is None
    assert request.stream is False


def test_a_null_parameter_is_not_a_parameter_the_request_sets():
    request = chat(model="acme/large", temperature=None, max_tokens=None, seed=3)
    assert request.parameters == {"seed"}


def test_parameters_survive_the_bus_round_trip():
    # Published as JSON with every declared field: an unset max_tokens is not "set".
    request = chat(model="acme/large", temperature=0.2)
    assert ChatRequest.model_validate_json(request.model_dump_json()).parameters == {"temperature"}


def test_provider_preferences_survive_the_bus_round_trip():
    request = chat(
        model="acme/large:nitro",
        provider={
            "sort": {"by": "latency", "partition": "none"},
            "preferred_min_throughput": {"p50": 10},
            "max_price": {"request": "0.5"},
        },
    )
    decoded = ChatRequest.model_validate_json(request.model_dump_json())
    assert decoded.provider == request.provider
    assert decoded.suffix_sorts == {"acme/large": "throughput"}


@pytest.mark.parametrize(
    ("provider", "named"),
    [
        ({"zdrr": True}, "provider.zdrr"),
        ({"data_colection": "deny"}, "provider.data_colection"),
        ({"ignored": None}, "provider.ignored"),  # null does not hide a misspelt field
        ({"max_price": {"promt": 1}}, "provider.max_price.promt"),
        ({"sort": {"by": "price", "partion": "none"}}, "provider.sort"),
        ({"data_collection": "never"}, "provider.data_collection"),
        ({"sort": "exacto"}, "provider.sort"),
    ],
)
def test_a_misspelt_or_unknown_provider_field_is_a_400_naming_it(provider, named):
    body = {"model": "acme/large", "messages": MESSAGES, "provider": provider}
    with pytest.raises(VeilError) as caught:
        parse_chat_request(orjson.dumps(body))
    assert caught.value.code == 400
    assert named in caught.value.message


def test_unknown_top_level_fields_pass_through_to_the_provider():
    request = chat(model="acme/large", session_id="s-1", plugins=[{"id": "web"}], top_a=0.1)
    body = upstream_body(validated(model="acme/large", plugins=[{"id": "web"}], top_a=0.1))
    assert body["plugins"] == [{"id": "web"}]
    assert body["top_a"] == 0.1
    assert request.parameters == {"plugins", "top_a"}  # session_id is OpenRouter's own


@pytest.mark.parametrize(
    ("fields", "needed"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, {"tools"}),
        ({"tool_choice": "none"}, {"tools"}),
        ({"tools": []}, set()),
        ({"response_format": {"type": "json_object"}}, {"response_format"}),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            {"response_format", "structured_outputs"},
        ),
        ({"response_format": {"type": "text"}}, set()),
        ({"temperature": 0.1}, set()),
    ],
)
def test_required_capabilities(fields, needed):
    assert chat(model="acme/large", **fields).required_capabilities == needed


@pytest.mark.parametrize(
    ("written", "catalog_id"),
    [
        ("acme/large:nitro", "acme/large"),
        ("acme/large:floor", "acme/large"),
        ("acme/large:free", "acme/large:free"),
        ("acme/large:free:floor", "acme/large:free"),
        ("acme/large", "acme/large"),
    ],
)
def test_routing_suffixes_are_removed_from_the_catalog_id(written, catalog_id):
    assert chat(model=written).candidate_models == [catalog_id]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"stream": "yes"}, "stream"),
        ({"stream": "true"}, "stream"),
        ({"stream": 1}, "stream"),
        ({"provider": {"allow_fallbacks": "false"}}, "provider.allow_fallbacks"),
        ({"provider": {"require_parameters": 1}}, "provider.require_parameters"),
        ({"provider": {"zdr": "yes"}}, "provider.zdr"),
        ({"provider": {"enforce_distillable_text": 0}}, "provider.enforce_distillable_text"),
    ],
)
def test_booleans_are_strict_a_400_naming_the_field(fields, named):
    # "false" read as true would route more widely than asked; nothing is guessed.
    body = {"model": "acme/large", "messages": MESSAGES, **fields}
    with pytest.raises(VeilError) as caught:
        parse_chat_request(orjson.dumps(body))
    assert caught.value.code == 400
    assert named in caught.value.message
    assert "boolean" in caught.value.message


def test_real_booleans_and_nulls_are_still_accepted():
    body = {
        "model": "acme/large",
        "messages": MESSAGES,
        "stream": True,
        "provider": {"allow_fallbacks": False, "zdr": None, "require_parameters": None},
    }
    request = parse_chat_request(orjson.dumps(body))
    assert request.stream is True
    assert request.provider is not None
    assert request.provider.allow_fallbacks is False
    assert request.provider.zdr is None
    assert request.provider.require_parameters is False
    assert parse_chat_request(orjson.dumps({**body, "stream": None})).stream is False


def test_the_routing_summary_survives_the_bus_with_what_routing_reads():
    request = chat(
        model="acme/large:nitro",
        models=["acme/small", "acme/large"],
        provider={
            "order": ["groq"],
            "allow_fallbacks": False,
            "max_price": {"prompt": "0.5"},
            "sort": {"by": "price", "partition": "none"},
            "preferred_max_latency": {"p90": 2.5},
        },
        temperature=0.2,
        tools=[{"type": "function", "function": {"name": "f"}}],
        response_format={"type": "json_schema", "json_schema": {}},
        stream=True,
    )
    sent = request.routing_summary()
    summary = RoutingSummary.model_validate_json(sent.model_dump_json(exclude_defaults=True))
    for attribute in (
        "requested_models",
        "candidate_models",
        "suffix_sorts",
        "parameters",
        "required_capabilities",
        "provider",
        "stream",
        "models",
    ):
        assert getattr(summary, attribute) == getattr(request, attribute), attribute
    assert summary.parameters == {"temperature", "tools", "response_format"}
    assert summary.provider is not None
    assert summary.provider.max_price is not None
    assert str(summary.provider.max_price.prompt) == "0.5"


def test_the_routing_summary_holds_no_content():
    request = chat(model="acme/large", messages=[{"role": "user", "content": PROMPT}])
    assert PROMPT not in request.routing_summary().model_dump_json()


def test_a_summary_without_a_model_is_refused():
    with pytest.raises(ValidationError, match="either `model` or `models` is required"):
        RoutingSummary.model_validate({"stream": True})
