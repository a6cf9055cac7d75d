"""Routing for the request schema OpenRouter accepts today: explicit nulls, the `sort`
object, performance preferences, provider tags, `:nitro`/`:floor`, unknown fallback
models, router model ids, and the endpoints tools and structured output need.

Cases route over the same five-provider catalog as test_eligibility.py (see its table);
with the default (private) settings `acme/chat` is served by retain, safe, halfknown.
"""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veil.catalog import CatalogIndex
from veil.policy.candidates import EndpointStats
from veil.policy.eligibility import decide, no_endpoint_error
from veil.policy.explain import explain
from veil.schemas.errors import VeilError

from .catalog_builders import context, endpoint, excluded, index, model, provider, request, routed
from .test_eligibility import CATALOG, PRIVATE_CHAT, TRAINERS_OUT
from .test_eligibility_properties import PROPERTY, Scenario, scenarios

T = "data_policy:training"
IGNORE = "ignore"  # the request's provider.ignore and provider.only
ONLY = "only"
PRICE = "max_price"
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "schema": {"type": "object"}},
}


def route(model_id: str | None = "acme/chat", settings=None, stats=None, **fields: Any):
    return decide(request(model_id, **fields), context(CATALOG, settings, stats=stats))


# --- null is "not set" ---


@pytest.mark.parametrize(
    "field_name",
    [
        "order",
        "allow_fallbacks",
        "require_parameters",
        "data_collection",
        "zdr",
        "only",
        "ignore",
        "quantizations",
        "sort",
        "max_price",
        "preferred_max_latency",
        "preferred_min_throughput",
        "enforce_distillable_text",
        "options",
    ],
)
def test_a_null_preference_routes_like_an_absent_one(field_name: str) -> None:
    decision = route(provider={field_name: None})
    assert routed(decision) == PRIVATE_CHAT
    assert excluded(decision) == TRAINERS_OUT


def test_null_data_collection_is_the_default_allow_and_still_under_the_account() -> None:
    # With paid training allowed by the account, null is "allow": trainers come back ...
    paid = {"enable_paid_model_training": True}
    allowed = route(settings=paid, provider={"data_collection": None})
    assert "chat@trainer" in routed(allowed)
    # ... and with the private defaults, null cannot loosen anything.
    assert excluded(route(provider={"data_collection": None, "zdr": None})) == TRAINERS_OUT


def test_null_allow_fallbacks_keeps_fallbacks() -> None:
    assert routed(route(provider={"order": ["safe"], "allow_fallbacks": None})) == [
        "chat@safe",
        "chat@retain",
        "chat@halfknown",
    ]


# --- sort: string or object, partition ---

FAST_HALFKNOWN = {("acme/chat", "halfknown"): EndpointStats(throughput_tps=500)}
BY_THROUGHPUT = ["chat@halfknown", "chat@retain", "chat@safe"]


@pytest.mark.parametrize(
    "sort",
    ["throughput", {"by": "throughput"}, {"by": "throughput", "partition": "model"}],
    ids=["string", "object", "object-with-partition"],
)
def test_sort_as_a_string_or_an_object(sort) -> None:
    assert routed(route(stats=FAST_HALFKNOWN, provider={"sort": sort})) == BY_THROUGHPUT


def test_a_sort_object_without_by_keeps_the_default_order() -> None:
    assert routed(route(provider={"sort": {"by": None, "partition": None}})) == PRIVATE_CHAT


def test_partition_model_keeps_fallback_models_after_the_primary() -> None:
    decision = route(models=["acme/alt"], provider={"sort": {"by": "price"}})
    assert routed(decision) == [*PRIVATE_CHAT, "alt@retain", "alt@safe"]


def test_partition_none_sorts_every_models_endpoints_together() -> None:
    decision = route(models=["acme/alt"], provider={"sort": {"by": "price", "partition": "none"}})
    # alt is cheaper (0.1+0.1 and 0.3+0.3 $/M) than any chat endpoint.
    assert routed(decision) == ["alt@retain", "alt@safe", *PRIVATE_CHAT]


def test_partition_none_still_puts_order_first() -> None:
    decision = route(
        models=["acme/alt"],
        provider={"order": ["halfknown"], "sort": {"by": "price", "partition": "none"}},
    )
    assert routed(decision) == [
        "chat@halfknown",
        "alt@retain",
        "alt@safe",
        "chat@retain",
        "chat@safe",
    ]


def test_an_unknown_sort_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match=r"provider\.sort"):
        request("acme/chat", provider={"sort": "exacto"})


# --- :nitro and :floor ---


def test_nitro_sorts_by_throughput_and_floor_by_price() -> None:
    assert routed(route("acme/chat:nitro", stats=FAST_HALFKNOWN)) == BY_THROUGHPUT
    assert routed(route("acme/chat:floor", stats=FAST_HALFKNOWN)) == PRIVATE_CHAT


def test_the_suffix_names_the_catalog_model_without_it() -> None:
    decision = route("acme/chat:nitro")
    assert {c.model.id for c in decision.eligible} == {"acme/chat"}
    assert request("acme/chat:nitro").candidate_models == ["acme/chat"]


def test_free_is_a_catalog_variant_not_a_routing_suffix() -> None:
    req = request("acme/chat:free:nitro", models=["acme/chat:free"])
    assert req.candidate_models == ["acme/chat:free"]
    assert req.suffix_sorts == {"acme/chat:free": "throughput"}


def test_a_suffix_on_a_fallback_model_sorts_that_model_only() -> None:
    stats = {
        **FAST_HALFKNOWN,
        ("acme/alt", "safe"): EndpointStats(throughput_tps=900),
        ("acme/alt", "retain"): EndpointStats(throughput_tps=10),
    }
    decision = route(models=["acme/alt:nitro"], stats=stats)
    assert routed(decision) == [*PRIVATE_CHAT, "alt@safe", "alt@retain"]


def test_the_suffix_wins_over_provider_sort_for_its_model() -> None:
    decision = route("acme/chat:nitro", stats=FAST_HALFKNOWN, provider={"sort": "price"})
    assert routed(decision) == BY_THROUGHPUT


# --- preferred_max_latency / preferred_min_throughput ---
# Catalog hints: halfknown 100 ms / 30 tok/s, retain 200 ms / 90, safe 400 ms / 60.


@pytest.mark.parametrize("cutoff", [0.15, {"p50": 0.15}, {"p50": 0.15, "p90": None}])
def test_endpoints_slower_than_preferred_latency_go_after_the_others(cutoff) -> None:
    decision = route(provider={"preferred_max_latency": cutoff})
    assert routed(decision) == ["chat@halfknown", "chat@retain", "chat@safe"]
    assert excluded(decision) == TRAINERS_OUT  # a preference never excludes


def test_preferred_min_throughput_in_tokens_per_second() -> None:
    decision = route(provider={"preferred_min_throughput": 50})
    assert routed(decision) == ["chat@retain", "chat@safe", "chat@halfknown"]
    decision = route(provider={"preferred_min_throughput": 80})
    assert routed(decision) == ["chat@retain", "chat@safe", "chat@halfknown"]
    decision = route(provider={"preferred_min_throughput": 200})
    assert routed(decision) == PRIVATE_CHAT  # nobody meets it: the order is unchanged


def test_live_statistics_decide_over_catalog_hints() -> None:
    stats = {("acme/chat", "safe"): EndpointStats(latency_ms=50)}
    decision = route(stats=stats, provider={"preferred_max_latency": 0.15})
    assert routed(decision) == ["chat@safe", "chat@halfknown", "chat@retain"]


def test_a_fallback_model_that_meets_the_preference_is_tried_before_the_primary() -> None:
    stats = {("acme/alt", "retain"): EndpointStats(throughput_tps=200)}
    decision = route(models=["acme/alt"], stats=stats, provider={"preferred_min_throughput": 100})
    assert routed(decision) == ["alt@retain", *PRIVATE_CHAT, "alt@safe"]


def test_unmeasured_percentiles_do_not_act() -> None:
    # veil measures p50 only: a p90 cutoff is accepted and changes nothing.
    decision = route(provider={"preferred_max_latency": {"p90": 0.01}})
    assert routed(decision) == PRIVATE_CHAT


def test_an_unhealthy_endpoint_does_not_count_as_meeting_a_preference() -> None:
    stats = {("acme/chat", "halfknown"): EndpointStats(error_rate=0.5)}
    decision = route(stats=stats, provider={"preferred_max_latency": 0.15})
    assert routed(decision) == ["chat@retain", "chat@safe", "chat@halfknown"]


def test_providers_named_in_order_keep_their_place() -> None:
    decision = route(provider={"order": ["safe"], "preferred_max_latency": 0.15})
    assert routed(decision) == ["chat@safe", "chat@halfknown", "chat@retain"]


# --- max_price beyond tokens ---


@pytest.mark.parametrize(
    "bounds",
    [{"request": 0}, {"request": "0.001"}, {"image": "0", "audio": 0}, {"request": None}],
)
def test_request_image_and_audio_bounds_exclude_nothing_the_catalog_does_not_price(bounds) -> None:
    assert routed(route(provider={"max_price": bounds})) == PRIVATE_CHAT


def test_a_negative_bound_excludes_everything() -> None:
    decision = route(provider={"max_price": {"request": -1}})
    assert routed(decision) == []
    assert all(PRICE in reasons for reasons in excluded(decision).values())


def test_max_price_in_the_sdks_string_form() -> None:
    decision = route(provider={"max_price": {"prompt": "0.5", "completion": "1"}})
    assert routed(decision) == ["chat@retain"]


# --- provider tags: slug/quantization ---
# Quantizations: trainer int4, mystery none ("unknown"), retain bf16, safe fp8, halfknown fp16.


def test_only_with_a_tag_keeps_that_providers_endpoints_of_that_quantization() -> None:
    decision = route(models=["acme/alt"], provider={"only": ["retain/bf16"]})
    assert routed(decision) == ["chat@retain", "alt@retain"]
    decision = route(provider={"only": ["retain/fp8"]})
    assert routed(decision) == []
    assert excluded(decision)["chat@retain"] == [ONLY]


def test_a_plain_slug_and_a_tag_can_be_mixed() -> None:
    decision = route(provider={"only": ["retain/bf16", "safe"]})
    assert routed(decision) == ["chat@retain", "chat@safe"]


def test_ignore_with_a_tag_skips_only_that_quantization() -> None:
    decision = route(provider={"ignore": ["safe/fp8", "retain/int8"]})
    assert routed(decision) == ["chat@retain", "chat@halfknown"]
    assert excluded(decision)["chat@safe"] == [IGNORE]


def test_order_with_a_tag() -> None:
    assert routed(route(provider={"order": ["halfknown/fp16"]}))[0] == "chat@halfknown"
    assert routed(route(provider={"order": ["halfknown/int4"]})) == PRIVATE_CHAT


def test_a_tag_on_a_display_name_in_any_case() -> None:
    assert routed(route(provider={"only": ["Safe Cloud/FP8"]})) == ["chat@safe"]


def test_unknown_quantization_tag_matches_endpoints_without_one() -> None:
    decision = route(
        settings={"enable_paid_model_training": True}, provider={"ignore": ["mystery/unknown"]}
    )
    assert excluded(decision) == {"chat@mystery": [IGNORE]}


@pytest.mark.parametrize("field_name", ["order", "only", "ignore"])
@pytest.mark.parametrize("ref", ["safe/turbo", "nope/fp8", "safe/"])
def test_an_unknown_tag_is_a_400(field_name: str, ref: str) -> None:
    with pytest.raises(VeilError) as caught:
        route(provider={field_name: [ref]})
    assert caught.value.code == 400
    assert f"provider.{field_name}" in caught.value.message
    assert ref in caught.value.message


def test_a_tag_cannot_reach_a_provider_the_account_disallows() -> None:
    decision = route(settings={"allowed_providers": ["safe"]}, provider={"only": ["retain/bf16"]})
    assert routed(decision) == []
    decision = route(settings={"ignored_providers": ["safe"]}, provider={"order": ["safe/fp8"]})
    assert "chat@safe" not in routed(decision)


# --- enforce_distillable_text, options ---


def test_enforce_distillable_text_excludes_what_the_catalog_cannot_show_distillable() -> None:
    req = request("acme/chat", provider={"enforce_distillable_text": True})
    ctx = context(CATALOG)
    decision = decide(req, ctx)
    assert routed(decision) == []
    assert all("distillable_text" in reasons for reasons in excluded(decision).values())
    error = no_endpoint_error(decision, req, ctx)
    assert error.code == 404
    assert "distillable_text" in error.metadata["availability"]["excluded_by"]


def test_enforce_distillable_text_false_is_no_constraint() -> None:
    assert routed(route(provider={"enforce_distillable_text": False})) == PRIVATE_CHAT


def test_provider_options_are_accepted_and_do_not_route() -> None:
    options = {"safe": {"priority": "high"}, "amazon_bedrock": {}}
    assert routed(route(provider={"options": options})) == PRIVATE_CHAT


# --- router model ids ---


@pytest.mark.parametrize(
    ("model_id", "models"),
    [("openrouter/auto", None), ("acme/chat", ["openrouter/auto"]), (None, ["openrouter/free"])],
)
def test_openrouter_router_models_are_a_clear_400(model_id, models) -> None:
    with pytest.raises(VeilError) as caught:
        route(model_id, models=models)
    assert caught.value.code == 400
    assert "does not implement auto-routing" in caught.value.message


# --- unknown models in a fallback list ---


def test_an_unknown_fallback_model_is_skipped_and_reported() -> None:
    decision = route(models=["acme/missing", "acme/alt"])
    assert routed(decision) == [*PRIVATE_CHAT, "alt@retain", "alt@safe"]
    assert decision.unknown_models == ["acme/missing"]
    rendered = explain(decision).model_dump()
    assert {"model": "acme/missing", "provider": None, "excluded_by": ["unknown_model"]} in (
        rendered["excluded"]
    )


def test_an_unknown_primary_with_fallbacks_falls_back() -> None:
    decision = route("acme/missing", models=["acme/alt"])
    assert routed(decision) == ["alt@retain", "alt@safe"]
    assert decision.unknown_models == ["acme/missing"]


def test_the_404_when_nothing_is_left_names_the_skipped_models() -> None:
    req = request("acme/open", models=["acme/missing"])
    ctx = context(CATALOG)
    decision = decide(req, ctx)
    assert decision.eligible == []
    error = no_endpoint_error(decision, req, ctx)
    assert error.code == 404
    assert error.metadata["unknown_models"] == ["acme/missing"]
    assert error.metadata["availability"]["code"] == "privacy_restricted"
    assert "acme/missing" in error.message
    assert "enable_paid_model_training" in error.message


def test_the_404_without_unknown_models_has_no_such_key() -> None:
    req = request("acme/open")
    ctx = context(CATALOG)
    assert "unknown_models" not in no_endpoint_error(decide(req, ctx), req, ctx).metadata


# --- tools and structured output ---

CAPS = index(
    [
        provider("plain", training=False, retains=False),
        provider("jsonmode", training=False, retains=False),
        provider("schema", training=False, retains=False),
        provider("toolsonly", training=False, retains=False),
    ],
    [
        model(
            "lab/caps",
            endpoint("plain", 0.1, 0.1, params=["temperature"]),
            endpoint("jsonmode", 0.2, 0.2, params=["temperature", "response_format"]),
            endpoint(
                "schema",
                0.3,
                0.3,
                params=["response_format", "structured_outputs", "tools", "tool_choice"],
            ),
            endpoint("toolsonly", 0.4, 0.4, params=["tools", "tool_choice"]),
        ),
        model("lab/plain", endpoint("plain", 0.1, 0.1, params=["temperature"])),
    ],
)
RF = "unsupported:response_format"
SO = "unsupported:structured_outputs"
TL = "unsupported:tools"


@pytest.mark.parametrize(
    ("body", "eligible", "reasons"),
    [
        ({"tools": TOOLS}, ["caps@schema", "caps@toolsonly"], {"plain": [TL], "jsonmode": [TL]}),
        ({"tool_choice": "auto"}, ["caps@schema", "caps@toolsonly"], {"plain": [TL]}),
        ({"tools": []}, ["caps@plain", "caps@jsonmode", "caps@schema", "caps@toolsonly"], {}),
        ({"tools": None}, ["caps@plain", "caps@jsonmode", "caps@schema", "caps@toolsonly"], {}),
        (
            {"response_format": {"type": "json_object"}},
            ["caps@jsonmode", "caps@schema"],
            {"plain": [RF], "toolsonly": [RF]},
        ),
        (
            {"response_format": SCHEMA_FORMAT},
            ["caps@schema"],
            {"plain": [RF, SO], "jsonmode": [SO], "toolsonly": [RF, SO]},
        ),
        (
            {"response_format": {"type": "text"}},
            ["caps@plain", "caps@jsonmode", "caps@schema", "caps@toolsonly"],
            {},
        ),
        (
            {"tools": TOOLS, "response_format": SCHEMA_FORMAT},
            ["caps@schema"],
            {"plain": [RF, SO, TL], "jsonmode": [SO, TL], "toolsonly": [RF, SO]},
        ),
    ],
    ids=[
        "tools",
        "tool-choice-alone",
        "empty-tools",
        "null-tools",
        "json-object",
        "json-schema",
        "text-format",
        "tools-and-schema",
    ],
)
def test_tools_and_structured_output_go_only_where_supported(body, eligible, reasons) -> None:
    decision = decide(request("lab/caps", **body), context(CAPS))
    assert routed(decision) == eligible
    found = excluded(decision)
    for slug, expected in reasons.items():
        assert found[f"caps@{slug}"] == expected


def test_the_404_for_an_unsupported_capability_says_so() -> None:
    req = request("lab/plain", tools=TOOLS)
    ctx = context(CAPS)
    decision = decide(req, ctx)
    error = no_endpoint_error(decision, req, ctx)
    assert error.metadata["availability"]["code"] == "no_endpoints"
    assert TL in error.metadata["availability"]["excluded_by"]
    assert TL in error.message


@pytest.fixture(scope="module")
def default_index() -> CatalogIndex:
    return CatalogIndex.load()


COMMON_TOOL_MODELS = [
    "meta-llama/llama-3.1-8b-instruct",
    "meta-llama/llama-3.1-70b-instruct",
    "meta-llama/llama-3.3-70b-instruct",
    "qwen/qwen3-235b-a22b",
    "deepseek/deepseek-chat-v3-0324",
    "mistralai/mistral-large",
    "google/gemini-2.0-flash-001",
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "anthropic/claude-3.5-sonnet",
    "anthropic/claude-3.7-sonnet",
]


@pytest.mark.parametrize("model_id", COMMON_TOOL_MODELS)
def test_the_default_catalog_lets_common_models_use_tools_privately(
    default_index: CatalogIndex, model_id: str
) -> None:
    decision = decide(request(model_id, tools=TOOLS), context(default_index))
    assert decision.eligible, model_id
    for candidate in decision.eligible:
        assert "tools" in candidate.endpoint.supported_parameters
        assert candidate.provider.data_policy.training is False


@pytest.mark.parametrize(
    "model_id", ["anthropic/claude-3.5-sonnet", "openai/gpt-4o", "mistralai/mistral-large"]
)
def test_the_default_catalog_serves_json_schema_on_common_models(
    default_index: CatalogIndex, model_id: str
) -> None:
    decision = decide(request(model_id, response_format=SCHEMA_FORMAT), context(default_index))
    assert decision.eligible, model_id


# --- properties: tags and the new preferences never loosen the account's ceiling ---


@PROPERTY
@given(scenarios(), st.data())
def test_tags_and_preferences_stay_within_the_account(s: Scenario, data: st.DataObject) -> None:
    slugs = list(s.catalog.providers)
    tagged = st.lists(
        st.tuples(st.sampled_from(slugs), st.sampled_from([None, "fp8", "bf16", "unknown"])).map(
            lambda t: t[0] if t[1] is None else f"{t[0]}/{t[1]}"
        ),
        max_size=4,
    )
    prefs: dict[str, Any] = {"data_collection": "allow", "zdr": None}
    for name in ("order", "only", "ignore"):
        if data.draw(st.booleans()):
            prefs[name] = data.draw(tagged)
    prefs["sort"] = data.draw(
        st.sampled_from([None, "latency", {"by": "throughput", "partition": "none"}])
    )
    prefs["preferred_max_latency"] = data.draw(st.sampled_from([None, 0.1, {"p50": 0.5}]))
    prefs["preferred_min_throughput"] = data.draw(st.sampled_from([None, 40, {"p90": 10}]))
    suffix = data.draw(st.sampled_from(["", ":nitro", ":floor"]))
    model_id = (s.model or s.candidate_models[0]) + suffix
    ctx = s.ctx()
    decision = decide(request(model_id, models=s.models, provider=prefs, **s.body), ctx)
    ceiling = decide(request(model_id, models=s.models), ctx)
    reached = {(c.model.id, c.provider.slug) for c in decision.eligible}
    assert reached <= {(c.model.id, c.provider.slug) for c in ceiling.eligible}
    for c in decision.eligible:
        assert c.provider.slug not in s.settings.ignored_providers
        if s.settings.allowed_providers is not None:
            assert c.provider.slug in s.settings.allowed_providers
    # Every endpoint is still eligible or excluded exactly once.
    seen = [(c.model.id, c.provider.slug) for c in decision.eligible]
    seen += [(c.model.id, c.provider.slug) for c, _ in decision.excluded]
    assert sorted(seen) == sorted(s.all_endpoints().elements())
