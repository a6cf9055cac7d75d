"""The eligibility engine, case by case: which endpoints serve a request, in which order.

Most cases route `acme/chat` over one small catalog of five providers, one per kind
of data policy:

    provider    name          training  retains  price in/out ($/M)  quant  hints (ms, tok/s)
    trainer     Trainer Labs  true      true     0.1 / 0.1           int4   900, 20
    mystery     Mystery Inc   unknown   unknown  0.2 / 0.2           -      -
    retain      Retain AI     false     true     0.5 / 1.0           bf16   200, 90
    safe        Safe Cloud    false     false    1.0 / 2.0           fp8    400, 60
    halfknown   Half Known    false     unknown  2.0 / 2.0           fp16   100, 30

Endpoints are written `chat@safe` (model `acme/chat`, provider `safe`).
"""

from dataclasses import dataclass, field
from typing import Any

import pytest

from veil.catalog import CatalogIndex
from veil.policy.candidates import EndpointStats
from veil.policy.eligibility import decide, no_endpoint_error
from veil.schemas.chat import RoutingSummary
from veil.schemas.errors import VeilError

from .catalog_builders import context, endpoint, excluded, index, model, provider, request, routed

T = "data_policy:training"
Z = "data_policy:zdr"
IGN = "ignored_providers"  # the account's lists
ALW = "allowed_providers"
IGNORE = "ignore"  # the request's
ONLY = "only"
PRICE = "max_price"
QUANT = "quantization"
PARAMS = "require_parameters"
UNCONF = "unconfigured"
NOFB = "allow_fallbacks"
TOOLS_OUT = "unsupported:tools"

CATALOG = index(
    [
        provider("trainer", "Trainer Labs", training=True, retains=True),
        provider("mystery", "Mystery Inc", training=None, retains=None),
        provider("retain", "Retain AI", training=False, retains=True, retention_days=30),
        provider("safe", "Safe Cloud", training=False, retains=False, retention_days=0),
        provider("halfknown", "Half Known", training=False, retains=None),
    ],
    [
        model(
            "acme/chat",
            endpoint(
                "trainer",
                0.1,
                0.1,
                quantization="int4",
                params=["temperature", "max_tokens"],
                latency_ms=900,
                throughput_tps=20,
            ),
            endpoint("mystery", 0.2, 0.2, params=["temperature"]),
            endpoint(
                "retain",
                0.5,
                1.0,
                quantization="bf16",
                params=["temperature", "top_p", "tools", "max_tokens"],
                latency_ms=200,
                throughput_tps=90,
            ),
            endpoint(
                "safe",
                1.0,
                2.0,
                quantization="fp8",
                params=["temperature", "top_p", "top_k", "max_tokens"],
                latency_ms=400,
                throughput_tps=60,
            ),
            endpoint(
                "halfknown",
                2.0,
                2.0,
                quantization="fp16",
                params=["temperature", "top_p", "top_k", "tools", "max_tokens", "seed"],
                latency_ms=100,
                throughput_tps=30,
            ),
        ),
        model(
            "acme/chat:free",
            endpoint("trainer", 0, 0, quantization="int4", params=["temperature"]),
            endpoint("safe", 0, 0, quantization="fp8", params=["temperature"]),
        ),
        model(
            "acme/alt",
            endpoint("safe", 0.3, 0.3, quantization="fp8", params=["temperature"]),
            endpoint("retain", 0.1, 0.1, quantization="bf16", params=["temperature"]),
        ),
        model("acme/open", endpoint("trainer", 0.1, 0.1)),
        model("acme/open:free", endpoint("trainer", 0, 0)),
        model("acme/kept", endpoint("retain", 0.5, 0.5)),
    ],
)

# With the default (most private) settings, acme/chat loses its two may-train endpoints.
PRIVATE_CHAT = ["chat@retain", "chat@safe", "chat@halfknown"]
ALL_CHAT = ["chat@trainer", "chat@mystery", "chat@retain", "chat@safe", "chat@halfknown"]
TRAINERS_OUT = {"chat@trainer": [T], "chat@mystery": [T]}
PAID_TRAINING = {"enable_paid_model_training": True}
FREE_TRAINING = {"enable_free_model_training": True}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]


@dataclass
class Case:
    id: str
    eligible: list[str]
    excluded: dict[str, list[str]]
    model: str | None = "acme/chat"
    models: list[str] | None = None
    provider: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    callable_providers: set[str] | None = None
    stats: dict[tuple[str, str], EndpointStats] = field(default_factory=dict)


CASES = [
    # --- training (docs/privacy.md, invariant 2) ---
    Case("default-settings-exclude-may-train-and-unknown-training", PRIVATE_CHAT, TRAINERS_OUT),
    Case(
        "paid-training-allowed-admits-may-train-and-unknown", ALL_CHAT, {}, settings=PAID_TRAINING
    ),
    Case(
        "request-deny-overrides-account-paid-training",
        PRIVATE_CHAT,
        TRAINERS_OUT,
        settings=PAID_TRAINING,
        provider={"data_collection": "deny"},
    ),
    Case(
        "request-allow-cannot-enable-training-the-account-disallows",
        PRIVATE_CHAT,
        TRAINERS_OUT,
        provider={"data_collection": "allow"},
    ),
    Case(
        "free-training-setting-does-not-cover-paid-model",
        PRIVATE_CHAT,
        TRAINERS_OUT,
        settings=FREE_TRAINING,
    ),
    Case(
        "free-model-with-free-training-allowed",
        ["chat:free@safe", "chat:free@trainer"],  # same price (0): by slug
        {},
        model="acme/chat:free",
        settings=FREE_TRAINING,
    ),
    Case(
        "paid-training-setting-does-not-cover-free-model",
        ["chat:free@safe"],
        {"chat:free@trainer": [T]},
        model="acme/chat:free",
        settings=PAID_TRAINING,
    ),
    Case(
        "request-deny-on-free-model-with-free-training-allowed",
        ["chat:free@safe"],
        {"chat:free@trainer": [T]},
        model="acme/chat:free",
        settings=FREE_TRAINING,
        provider={"data_collection": "deny"},
    ),
    Case(
        "each-model-uses-its-own-training-setting",
        ["open:free@trainer"],
        {"open@trainer": [T]},
        model="acme/open:free",
        models=["acme/open"],
        settings=FREE_TRAINING,
    ),
    # --- zero data retention (docs/privacy.md, invariant 3) ---
    Case(
        "request-zdr-keeps-only-zero-retention",
        ["chat@safe"],
        {
            "chat@trainer": [T, Z],
            "chat@mystery": [T, Z],
            "chat@retain": [Z],
            "chat@halfknown": [Z],
        },
        provider={"zdr": True},
    ),
    Case(
        "account-enforce-zdr",
        ["chat@safe"],
        {
            "chat@trainer": [T, Z],
            "chat@mystery": [T, Z],
            "chat@retain": [Z],
            "chat@halfknown": [Z],
        },
        settings={"enforce_zdr": True},
    ),
    Case(
        "request-zdr-false-cannot-lift-account-zdr",
        ["chat@safe"],
        {
            "chat@trainer": [T, Z],
            "chat@mystery": [T, Z],
            "chat@retain": [Z],
            "chat@halfknown": [Z],
        },
        settings={"enforce_zdr": True},
        provider={"zdr": False},
    ),
    Case(
        "unknown-retention-or-training-is-not-zdr-even-when-training-allowed",
        ["chat@safe"],
        {"chat@trainer": [Z], "chat@mystery": [Z], "chat@retain": [Z], "chat@halfknown": [Z]},
        settings=PAID_TRAINING,
        provider={"zdr": True},
    ),
    Case("request-zdr-false-is-no-constraint", PRIVATE_CHAT, TRAINERS_OUT, provider={"zdr": False}),
    # --- ignored providers (docs/privacy.md, invariant 4: ignore merges) ---
    Case(
        "request-ignore-by-slug",
        ["chat@safe", "chat@halfknown"],
        {**TRAINERS_OUT, "chat@retain": [IGNORE]},
        provider={"ignore": ["retain"]},
    ),
    Case(
        "request-ignore-by-display-name-any-case",
        ["chat@safe", "chat@halfknown"],
        {**TRAINERS_OUT, "chat@retain": [IGNORE]},
        provider={"ignore": ["retain ai"]},
    ),
    Case(
        "account-ignored-providers",
        ["chat@retain", "chat@halfknown"],
        {**TRAINERS_OUT, "chat@safe": [IGN]},
        settings={"ignored_providers": ["safe"]},
    ),
    Case(
        "request-ignore-merges-with-account-ignore",
        ["chat@halfknown"],
        {**TRAINERS_OUT, "chat@safe": [IGN], "chat@retain": [IGNORE]},
        settings={"ignored_providers": ["safe"]},
        provider={"ignore": ["retain"]},
    ),
    Case(
        "empty-request-ignore-keeps-account-ignore",
        ["chat@retain", "chat@halfknown"],
        {**TRAINERS_OUT, "chat@safe": [IGN]},
        settings={"ignored_providers": ["safe"]},
        provider={"ignore": []},
    ),
    Case(
        "ignored-may-train-provider-has-both-reasons",
        PRIVATE_CHAT,
        {"chat@trainer": [T, IGNORE], "chat@mystery": [T]},
        provider={"ignore": ["Trainer Labs"]},
    ),
    # --- allowed providers (docs/privacy.md, invariant 4: only intersects) ---
    Case(
        "account-allowed-providers",
        ["chat@safe", "chat@halfknown"],
        {"chat@trainer": [T, ALW], "chat@mystery": [T, ALW], "chat@retain": [ALW]},
        settings={"allowed_providers": ["safe", "halfknown"]},
    ),
    Case(
        "account-allowed-empty-list-allows-nothing",
        [],
        {
            "chat@trainer": [T, ALW],
            "chat@mystery": [T, ALW],
            "chat@retain": [ALW],
            "chat@safe": [ALW],
            "chat@halfknown": [ALW],
        },
        settings={"allowed_providers": []},
    ),
    Case(
        "request-only",
        ["chat@retain", "chat@safe"],
        {"chat@trainer": [T, ONLY], "chat@mystery": [T, ONLY], "chat@halfknown": [ONLY]},
        provider={"only": ["safe", "retain"]},
    ),
    Case(
        "request-only-intersects-account-allowed",
        ["chat@safe"],
        {
            "chat@trainer": [T, ALW, ONLY],
            "chat@mystery": [T, ALW, ONLY],
            "chat@retain": [ALW],  # named by the request, not allowed by the account
            "chat@halfknown": [ALW, ONLY],
        },
        settings={"allowed_providers": ["safe"]},
        provider={"only": ["safe", "retain"]},
    ),
    Case(
        "request-only-cannot-add-a-provider-the-account-disallows",
        [],
        {
            "chat@trainer": [T, ALW, ONLY],
            "chat@mystery": [T, ALW, ONLY],
            "chat@retain": [ALW],
            "chat@safe": [ONLY],
            "chat@halfknown": [ALW, ONLY],
        },
        settings={"allowed_providers": ["safe"]},
        provider={"only": ["retain"]},
    ),
    Case(
        "request-only-by-display-name-any-case",
        ["chat@safe"],
        {
            "chat@trainer": [T, ONLY],
            "chat@mystery": [T, ONLY],
            "chat@retain": [ONLY],
            "chat@halfknown": [ONLY],
        },
        provider={"only": ["SAFE CLOUD"]},
    ),
    Case(
        "request-only-cannot-bypass-training",
        [],
        {
            "chat@trainer": [T],
            "chat@mystery": [T, ONLY],
            "chat@retain": [ONLY],
            "chat@safe": [ONLY],
            "chat@halfknown": [ONLY],
        },
        provider={"only": ["trainer"]},
    ),
    # --- max_price (USD per million tokens) ---
    Case(
        "max-price-prompt-bound-is-inclusive",
        ["chat@retain"],
        {**TRAINERS_OUT, "chat@safe": [PRICE], "chat@halfknown": [PRICE]},
        provider={"max_price": {"prompt": 0.5}},
    ),
    Case(
        "max-price-completion",
        ["chat@retain"],
        {**TRAINERS_OUT, "chat@safe": [PRICE], "chat@halfknown": [PRICE]},
        provider={"max_price": {"completion": 1}},
    ),
    Case(
        "max-price-both-bounds",
        ["chat@retain", "chat@safe"],
        {**TRAINERS_OUT, "chat@halfknown": [PRICE]},
        provider={"max_price": {"prompt": 1, "completion": 2}},
    ),
    Case(
        "max-price-and-training-together-exclude-everything",
        [],
        {
            "chat@trainer": [T],
            "chat@mystery": [T, PRICE],
            "chat@retain": [PRICE],
            "chat@safe": [PRICE],
            "chat@halfknown": [PRICE],
        },
        provider={"max_price": {"prompt": "0.15"}},
    ),
    Case(
        "max-price-zero-admits-free-endpoints",
        ["chat:free@safe", "chat:free@trainer"],
        {},
        model="acme/chat:free",
        settings=FREE_TRAINING,
        provider={"max_price": {"prompt": 0, "completion": 0}},
    ),
    # --- quantizations ---
    Case(
        "quantizations-filter",
        ["chat@safe"],
        {
            "chat@trainer": [T, QUANT],
            "chat@mystery": [T, QUANT],
            "chat@retain": [QUANT],
            "chat@halfknown": [QUANT],
        },
        provider={"quantizations": ["fp8"]},
    ),
    Case(
        "quantizations-case-insensitive",
        ["chat@retain", "chat@safe"],
        {"chat@trainer": [T, QUANT], "chat@mystery": [T, QUANT], "chat@halfknown": [QUANT]},
        provider={"quantizations": ["FP8", "Bf16"]},
    ),
    Case(
        "quantization-unknown-matches-unlabelled-endpoint",
        ["chat@mystery"],
        {
            "chat@trainer": [QUANT],
            "chat@retain": [QUANT],
            "chat@safe": [QUANT],
            "chat@halfknown": [QUANT],
        },
        settings=PAID_TRAINING,
        provider={"quantizations": ["unknown"]},
    ),
    # --- require_parameters ---
    Case(
        "require-parameters-tools",
        ["chat@retain", "chat@halfknown"],
        {
            "chat@trainer": [T, PARAMS, TOOLS_OUT],
            "chat@mystery": [T, PARAMS, TOOLS_OUT],
            "chat@safe": [PARAMS, TOOLS_OUT],
        },
        provider={"require_parameters": True},
        body={"tools": TOOLS},
    ),
    Case(
        "unsupported-parameter-without-require-parameters-is-no-constraint",
        PRIVATE_CHAT,
        TRAINERS_OUT,
        body={"top_k": 40, "seed": 7},
    ),
    Case(
        "require-parameters-top-k-and-max-tokens",
        ["chat@safe", "chat@halfknown"],
        {"chat@trainer": [T, PARAMS], "chat@mystery": [T, PARAMS], "chat@retain": [PARAMS]},
        provider={"require_parameters": True},
        body={"top_k": 40, "max_tokens": 100},
    ),
    Case(
        "require-parameters-ignores-non-parameter-fields",
        PRIVATE_CHAT,
        TRAINERS_OUT,
        provider={"require_parameters": True},
        body={"stream": True, "stream_options": {"include_usage": True}, "user": "u-1"},
    ),
    Case(
        "require-parameters-counts-unknown-extra-fields",
        [],
        {
            "chat@trainer": [T, PARAMS],
            "chat@mystery": [T, PARAMS],
            "chat@retain": [PARAMS],
            "chat@safe": [PARAMS],
            "chat@halfknown": [PARAMS],
        },
        provider={"require_parameters": True},
        body={"logit_bias": {"42": 1}},
    ),
    # --- providers the dispatchers cannot call ---
    Case(
        "uncallable-providers-excluded",
        ["chat@safe"],
        {
            "chat@trainer": [T, UNCONF],
            "chat@mystery": [T, UNCONF],
            "chat@retain": [UNCONF],
            "chat@halfknown": [UNCONF],
        },
        callable_providers={"safe"},
    ),
    # --- ordering within a model ---
    Case("default-order-by-total-price", ALL_CHAT, {}, settings=PAID_TRAINING),
    Case(
        "sort-price-same-as-default",
        ALL_CHAT,
        {},
        settings=PAID_TRAINING,
        provider={"sort": "price"},
    ),
    Case(
        "sort-throughput-by-catalog-hints-unknown-last",
        ["chat@retain", "chat@safe", "chat@halfknown", "chat@trainer", "chat@mystery"],
        {},
        settings=PAID_TRAINING,
        provider={"sort": "throughput"},
    ),
    Case(
        "sort-latency-by-catalog-hints-unknown-last",
        ["chat@halfknown", "chat@retain", "chat@safe", "chat@trainer", "chat@mystery"],
        {},
        settings=PAID_TRAINING,
        provider={"sort": "latency"},
    ),
    Case(
        "sort-throughput-live-stats-override-hints",
        ["chat@halfknown", "chat@retain", "chat@safe"],
        TRAINERS_OUT,
        provider={"sort": "throughput"},
        stats={("acme/chat", "halfknown"): EndpointStats(throughput_tps=500)},
    ),
    Case(
        "sort-throughput-live-zero-overrides-hint",
        ["chat@safe", "chat@halfknown", "chat@retain"],
        TRAINERS_OUT,
        provider={"sort": "throughput"},
        stats={("acme/chat", "retain"): EndpointStats(throughput_tps=0.0)},
    ),
    Case(
        "sort-latency-live-stats-override-hints",
        ["chat@safe", "chat@halfknown", "chat@retain"],
        TRAINERS_OUT,
        provider={"sort": "latency"},
        stats={("acme/chat", "safe"): EndpointStats(latency_ms=50)},
    ),
    Case(
        "unhealthy-endpoint-goes-last",
        ["chat@safe", "chat@halfknown", "chat@retain"],
        TRAINERS_OUT,
        stats={("acme/chat", "retain"): EndpointStats(error_rate=0.5)},
    ),
    Case(
        "error-rate-at-threshold-is-still-healthy",
        PRIVATE_CHAT,
        TRAINERS_OUT,
        stats={("acme/chat", "retain"): EndpointStats(error_rate=0.25)},
    ),
    Case(
        "unhealthy-last-also-when-sorting-by-throughput",
        ["chat@safe", "chat@halfknown", "chat@retain"],
        TRAINERS_OUT,
        provider={"sort": "throughput"},
        stats={("acme/chat", "retain"): EndpointStats(throughput_tps=1000, error_rate=0.9)},
    ),
    # --- provider.order and allow_fallbacks ---
    Case(
        "order-puts-providers-first",
        ["chat@halfknown", "chat@retain", "chat@safe"],
        TRAINERS_OUT,
        provider={"order": ["halfknown"]},
    ),
    Case(
        "order-by-display-name-in-given-order",
        ["chat@safe", "chat@halfknown", "chat@retain"],
        TRAINERS_OUT,
        provider={"order": ["Safe Cloud", "HALFKNOWN"]},
    ),
    Case(
        "order-cannot-bring-back-an-excluded-provider",
        ["chat@safe", "chat@retain", "chat@halfknown"],
        TRAINERS_OUT,
        provider={"order": ["trainer", "safe"]},
    ),
    Case(
        "order-is-honoured-over-health",
        ["chat@retain", "chat@safe", "chat@halfknown"],
        TRAINERS_OUT,
        provider={"order": ["retain"]},
        stats={("acme/chat", "retain"): EndpointStats(error_rate=0.9)},
    ),
    Case(
        "order-repeated-provider-keeps-its-first-position",
        ["chat@halfknown", "chat@safe", "chat@retain"],
        TRAINERS_OUT,
        provider={"order": ["halfknown", "safe", "halfknown"]},
    ),
    Case(
        "no-fallbacks-with-order-keeps-only-ordered-providers",
        ["chat@safe"],
        {**TRAINERS_OUT, "chat@retain": [NOFB], "chat@halfknown": [NOFB]},
        provider={"order": ["safe"], "allow_fallbacks": False},
    ),
    Case(
        "no-fallbacks-with-order-tries-each-ordered-provider",
        ["chat@halfknown", "chat@safe"],
        {**TRAINERS_OUT, "chat@retain": [NOFB]},
        provider={"order": ["halfknown", "safe"], "allow_fallbacks": False},
    ),
    Case(
        "no-fallbacks-without-order-keeps-first-ranked",
        ["chat@retain"],
        {**TRAINERS_OUT, "chat@safe": [NOFB], "chat@halfknown": [NOFB]},
        provider={"allow_fallbacks": False},
    ),
    Case(
        "no-fallbacks-with-sort-keeps-the-best-by-that-sort",
        ["chat@halfknown"],
        {**TRAINERS_OUT, "chat@retain": [NOFB], "chat@safe": [NOFB]},
        provider={"allow_fallbacks": False, "sort": "latency"},
    ),
    Case(
        "no-fallbacks-with-excluded-order-gives-nothing",
        [],
        {**TRAINERS_OUT, "chat@retain": [NOFB], "chat@safe": [NOFB], "chat@halfknown": [NOFB]},
        provider={"order": ["trainer"], "allow_fallbacks": False},
    ),
    Case(
        "no-fallbacks-keeps-first-ranked-per-model",
        ["chat@retain", "alt@retain"],
        {
            **TRAINERS_OUT,
            "chat@safe": [NOFB],
            "chat@halfknown": [NOFB],
            "alt@safe": [NOFB],
        },
        models=["acme/alt"],
        provider={"allow_fallbacks": False},
    ),
    # --- models fallbacks ---
    Case(
        "models-fallbacks-after-primary-in-blocks",
        [*PRIVATE_CHAT, "alt@retain", "alt@safe"],
        TRAINERS_OUT,
        models=["acme/alt"],
    ),
    Case(
        "models-without-model",
        ["alt@retain", "alt@safe", *PRIVATE_CHAT],
        TRAINERS_OUT,
        model=None,
        models=["acme/alt", "acme/chat"],
    ),
    Case(
        "models-repeats-are-dropped",
        ["alt@retain", "alt@safe", *PRIVATE_CHAT],
        TRAINERS_OUT,
        model="acme/alt",
        models=["acme/alt", "acme/chat", "acme/alt"],
    ),
    Case(
        "order-applies-within-each-model-block",
        ["chat@safe", "chat@retain", "chat@halfknown", "alt@safe", "alt@retain"],
        TRAINERS_OUT,
        models=["acme/alt"],
        provider={"order": ["safe"]},
    ),
    Case(
        "fallback-model-serves-when-primary-fully-excluded",
        ["alt@retain"],
        {"chat:free@trainer": [T], "chat:free@safe": [IGNORE], "alt@safe": [IGNORE]},
        model="acme/chat:free",
        models=["acme/alt"],
        provider={"ignore": ["safe"]},
    ),
]


def run(case: Case):
    ctx = context(
        CATALOG,
        case.settings,
        callable_providers=case.callable_providers,
        stats=case.stats,
    )
    req = request(case.model, models=case.models, provider=case.provider, **case.body)
    return decide(req, ctx)


def sorted_reasons(mapping: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: sorted(reasons) for key, reasons in mapping.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decide(case: Case) -> None:
    decision = run(case)
    assert routed(decision) == case.eligible
    assert sorted_reasons(excluded(decision)) == sorted_reasons(case.excluded)


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


# --- provider references and unknown models ---


@pytest.mark.parametrize("field_name", ["order", "only", "ignore"])
def test_unknown_provider_reference_is_a_400_naming_field_and_reference(field_name: str) -> None:
    req = request("acme/chat", provider={field_name: ["safe", "Nope Cloud"]})
    with pytest.raises(VeilError) as caught:
        decide(req, context(CATALOG))
    assert caught.value.code == 400
    assert f"provider.{field_name}" in caught.value.message
    assert "Nope Cloud" in caught.value.message


@pytest.mark.parametrize(
    ("model_id", "models"),
    [("acme/missing", None), ("acme/missing", []), (None, ["acme/missing", "acme/gone"])],
    ids=["primary-model-alone", "with-an-empty-fallback-list", "every-fallback-unknown"],
)
def test_unknown_model_is_a_404_naming_it(model_id: str | None, models: list[str] | None) -> None:
    with pytest.raises(VeilError) as caught:
        decide(request(model_id, models=models), context(CATALOG))
    assert caught.value.code == 404
    assert "acme/missing" in caught.value.message


# --- the 404 when nothing is eligible ---


@dataclass
class ErrorCase:
    id: str
    model: str
    excluded_by: list[str]
    names: list[str]  # what the message must name
    not_named: list[str] = field(default_factory=list)
    models: list[str] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    provider: dict[str, Any] | None = None
    body: dict[str, Any] = field(default_factory=dict)
    callable_providers: set[str] | None = None


PRIVACY_ERRORS = [
    ErrorCase("paid-training", "acme/open", [T], ["enable_paid_model_training"]),
    ErrorCase(
        "free-training",
        "acme/open:free",
        [T],
        ["enable_free_model_training"],
        not_named=["enable_paid_model_training"],
    ),
    ErrorCase(
        "free-and-paid-training-across-fallback-models",
        "acme/open:free",
        [T],
        ["enable_free_model_training", "enable_paid_model_training"],
        models=["acme/open"],
    ),
    ErrorCase(
        "request-data-collection-deny",
        "acme/open",
        [T],
        ['provider.data_collection: "deny"'],
        not_named=["enable_paid_model_training"],
        settings=PAID_TRAINING,
        provider={"data_collection": "deny"},
    ),
    ErrorCase(
        "account-enforce-zdr", "acme/kept", [Z], ["enforce_zdr"], settings={"enforce_zdr": True}
    ),
    ErrorCase("request-zdr", "acme/kept", [Z], ["provider.zdr"], provider={"zdr": True}),
    ErrorCase(
        "account-ignored-providers",
        "acme/kept",
        [IGN],
        ["ignored_providers"],
        settings={"ignored_providers": ["retain"]},
    ),
    ErrorCase(
        "request-ignore",
        "acme/kept",
        [IGNORE],
        ["provider.ignore"],
        not_named=["ignored_providers"],
        provider={"ignore": ["retain"]},
    ),
    ErrorCase(
        "account-allowed-providers",
        "acme/kept",
        [ALW],
        ["allowed_providers"],
        settings={"allowed_providers": ["safe"]},
    ),
    ErrorCase(
        "request-only",
        "acme/kept",
        [ONLY],
        ["provider.only"],
        not_named=["allowed_providers"],
        provider={"only": ["safe"]},
    ),
    ErrorCase(
        "request-only-empty-is-the-request-not-the-account",
        "acme/kept",
        [ONLY],
        ["provider.only"],
        not_named=["allowed_providers"],
        provider={"only": []},
    ),
    ErrorCase(
        "account-and-request-lists-named-apart",
        "acme/kept",
        [ALW, ONLY],
        ["allowed_providers", "provider.only"],
        settings={"allowed_providers": ["safe"]},
        provider={"only": ["safe"]},
    ),
    ErrorCase(
        "reasons-sorted-by-frequency",
        "acme/chat",
        [ONLY, T],  # provider.only excludes 4 endpoints, training 2
        ["provider.only", "enable_paid_model_training"],
        provider={"only": ["trainer"]},
    ),
    ErrorCase(
        "privacy-wins-over-more-frequent-other-reasons",
        "acme/chat",
        [QUANT, T],
        ["enable_paid_model_training"],
        provider={"quantizations": ["int4"]},
    ),
]


def error_for(case: ErrorCase) -> VeilError:
    ctx = context(CATALOG, case.settings, callable_providers=case.callable_providers)
    req = request(case.model, models=case.models, provider=case.provider, **case.body)
    decision = decide(req, ctx)
    assert decision.eligible == []
    return no_endpoint_error(decision, req, ctx)


@pytest.mark.parametrize("case", PRIVACY_ERRORS, ids=[c.id for c in PRIVACY_ERRORS])
def test_privacy_404(case: ErrorCase) -> None:
    error = error_for(case)
    assert error.code == 404
    assert error.message.startswith("No endpoints found matching your data policy")
    assert case.model in error.message
    for name in case.names:
        assert name in error.message
    for name in case.not_named:
        assert name not in error.message
    assert error.metadata == {
        "availability": {
            "code": "privacy_restricted",
            "retryable": False,
            "excluded_by": case.excluded_by,
        }
    }


OTHER_ERRORS = [
    ErrorCase(
        "max-price", "acme/kept", [PRICE], ["max_price"], provider={"max_price": {"prompt": 0.1}}
    ),
    ErrorCase(
        "reasons-sorted-by-frequency",
        "acme/chat",
        [PRICE, QUANT],  # max_price excludes 5 endpoints, quantization 4
        ["max_price", "quantization"],
        settings=PAID_TRAINING,
        provider={"max_price": {"prompt": "0.05"}, "quantizations": ["int4"]},
    ),
    ErrorCase(
        "equal-counts-sorted-by-name",
        "acme/chat",
        [QUANT, PARAMS],
        ["quantization", "require_parameters"],
        settings=PAID_TRAINING,
        provider={"quantizations": ["fp4"], "require_parameters": True},
        body={"logit_bias": {"1": 1}},
    ),
    ErrorCase("unconfigured", "acme/kept", [UNCONF], ["unconfigured"], callable_providers=set()),
]


@pytest.mark.parametrize("case", OTHER_ERRORS, ids=[c.id for c in OTHER_ERRORS])
def test_non_privacy_404(case: ErrorCase) -> None:
    error = error_for(case)
    assert error.code == 404
    assert "data policy" not in error.message
    assert case.model in error.message
    for name in case.names:
        assert name in error.message
    availability = error.metadata["availability"]
    assert availability["code"] == "no_endpoints"
    assert availability["excluded_by"] == case.excluded_by
    # Only a provider that is not configured yet may become available by retrying.
    assert availability["retryable"] is (UNCONF in case.excluded_by)


# --- the real default catalog ---


@pytest.fixture(scope="module")
def default_index() -> CatalogIndex:
    return CatalogIndex.load()


def by_surface(index: CatalogIndex, model_id: str, **kwargs: Any) -> RoutingSummary:
    """A request for `model_id` by the surface that serves it (embeddings or chat)."""
    api_type = "embeddings" if index.models[model_id].is_embedding else "completions"
    return request(model_id, **kwargs).routing_summary(api_type)


def test_default_settings_never_reach_a_may_train_provider(default_index: CatalogIndex) -> None:
    ctx = context(default_index)
    routable = 0
    for model_id, m in default_index.models.items():
        decision = decide(by_surface(default_index, model_id), ctx)
        for candidate in decision.eligible:
            assert candidate.provider.data_policy.training is False, (model_id, candidate)
        for candidate, reasons in decision.excluded:
            if candidate.provider.data_policy.training is not False:
                assert T in reasons, (model_id, candidate.provider.slug)
        assert len(decision.eligible) + len(decision.excluded) == len(m.endpoints)
        routable += bool(decision.eligible)
    # The private defaults still leave most of the catalog usable.
    assert routable > len(default_index.models) // 2


def test_default_catalog_free_models_only_served_by_trainers_give_privacy_404(
    default_index: CatalogIndex,
) -> None:
    ctx = context(default_index)
    trainer_only = [
        m.id
        for m in default_index.models.values()
        if m.is_free
        and all(default_index.providers[e.provider].data_policy.may_train for e in m.endpoints)
    ]
    assert trainer_only, "the default catalog should have a :free model served only by trainers"
    for model_id in trainer_only:
        req = request(model_id)
        decision = decide(req, ctx)
        assert decision.eligible == []
        error = no_endpoint_error(decision, req, ctx)
        assert error.code == 404
        assert error.message.startswith("No endpoints found matching your data policy")
        assert "enable_free_model_training" in error.message
        assert error.metadata["availability"]["code"] == "privacy_restricted"
        assert error.metadata["availability"]["excluded_by"] == [T]
        # Allowing free-model training makes the same request routable.
        allowed = context(default_index, FREE_TRAINING)
        assert decide(req, allowed).eligible


def test_default_catalog_enforce_zdr_keeps_only_zero_retention(
    default_index: CatalogIndex,
) -> None:
    settings = {**PAID_TRAINING, **FREE_TRAINING, "enforce_zdr": True}
    ctx = context(default_index, settings)
    routable = 0
    for model_id in default_index.models:
        decision = decide(by_surface(default_index, model_id, provider={"zdr": False}), ctx)
        for candidate in decision.eligible:
            policy = candidate.provider.data_policy
            assert policy.training is False, candidate
            assert policy.retains_prompts is False, candidate
        routable += bool(decision.eligible)
    assert routable > 0


def test_default_catalog_every_provider_reachable_by_slug_and_display_name(
    default_index: CatalogIndex,
) -> None:
    ctx = context(default_index, {**PAID_TRAINING, **FREE_TRAINING})
    for model_id, m in default_index.models.items():
        for e in m.endpoints:
            p = default_index.providers[e.provider]
            for ref in (p.slug, p.name, p.name.upper()):
                decision = decide(
                    by_surface(default_index, model_id, provider={"order": [ref]}), ctx
                )
                assert decision.eligible[0].provider.slug == p.slug, (model_id, ref)
                ignored = decide(
                    by_surface(default_index, model_id, provider={"ignore": [ref]}), ctx
                )
                assert p.slug not in {c.provider.slug for c in ignored.eligible}, (model_id, ref)


def test_each_kind_of_model_answers_its_own_surface_only(default_index: CatalogIndex) -> None:
    ctx = context(default_index, {**PAID_TRAINING, **FREE_TRAINING})
    embedder, chat_model = "openai/text-embedding-3-small", "openai/gpt-4o-mini"
    assert decide(by_surface(default_index, embedder), ctx).eligible
    with pytest.raises(VeilError) as wrong_surface:
        decide(request(embedder), ctx)
    assert wrong_surface.value.code == 400
    assert "POST /api/v1/embeddings" in wrong_surface.value.message
    with pytest.raises(VeilError) as wrong_model:
        decide(request(chat_model).routing_summary("embeddings"), ctx)
    assert wrong_model.value.code == 400
    assert wrong_model.value.metadata == {"models": [chat_model]}
    # The Messages and Responses surfaces route chat models as chat completions do.
    for api_type in ("messages", "responses"):
        routed_there = decide(request(chat_model).routing_summary(api_type), ctx)
        assert routed(routed_there) == routed(decide(request(chat_model), ctx))
