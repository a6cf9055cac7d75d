"""Properties of the eligibility engine over random catalogs, settings and requests.

Each example draws a catalog (providers with known and unknown data policies, paid
and `:free` models), an account's privacy settings, live statistics, the callable
providers and a request with random provider preferences. The expected exclusion
reasons are recomputed here from the rules, independently of the engine.
"""

from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import combinations, pairwise, product
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.catalog import CatalogIndex
from veil.policy.candidates import Candidate, Decision, EndpointStats, RoutingContext
from veil.policy.eligibility import decide, no_endpoint_error
from veil.schemas.accounts import PrivacySettings
from veil.schemas.chat import ChatRequest

from .catalog_builders import MILLION, context, endpoint, index, model, provider, request

SLUGS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
NAMES = {slug: f"{slug.title()} Cloud" for slug in SLUGS}
PARAMETERS = ["temperature", "top_p", "top_k", "tools", "max_tokens", "seed", "logit_bias"]
PARAMETER_VALUES = {
    "temperature": 0.7,
    "top_p": 0.9,
    "top_k": 40,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "max_tokens": 64,
    "seed": 7,
    "logit_bias": {"1": 1},
}
QUANTIZATIONS = ["int4", "int8", "fp8", "fp16", "bf16"]
PRICES = ["0", "0.1", "0.5", "1", "2", "15"]  # USD per million tokens
PRIVACY = {
    "data_policy:training",
    "data_policy:zdr",
    "ignored_providers",
    "allowed_providers",
    "ignore",
    "only",
}
NOFB = "allow_fallbacks"

# Few, coarse draws per endpoint keep generation fast (one draw per sampled_from).
MAYBE_MEASURE = [None, 0.0, 50.0, 200.0, 900.0]
MEASURES = st.sampled_from(list(product(MAYBE_MEASURE, MAYBE_MEASURE)))
LIVE_STATS = st.sampled_from(
    list(product(MAYBE_MEASURE, MAYBE_MEASURE, [None, 0.0, 0.1, 0.25, 0.5, 1.0]))
)
PRICE_PAIRS = st.sampled_from(list(product(PRICES, PRICES)))
# Endpoints never support logit_bias: a request setting it needs require_parameters off.
SUPPORTED = st.sampled_from(
    [combo for n in range(len(PARAMETERS)) for combo in combinations(PARAMETERS[:-1], n)]
)


@dataclass(frozen=True)
class Scenario:
    catalog: CatalogIndex
    settings: PrivacySettings
    callable_providers: frozenset[str] | None
    stats: dict[tuple[str, str], EndpointStats]
    model: str | None
    models: list[str] | None
    prefs: dict[str, Any]  # provider preferences, providers by slug
    refs: dict[str, list[str]]  # the same order/only/ignore, as the client wrote them
    body: dict[str, Any]  # sampling parameters the request sets

    def request(
        self, prefs: dict[str, Any] | None = None, *, as_written: bool = True
    ) -> ChatRequest:
        prefs = dict(self.prefs if prefs is None else prefs)
        if as_written:
            prefs.update({k: v for k, v in self.refs.items() if k in prefs})
        return request(self.model, models=self.models, provider=prefs, **self.body)

    def ctx(self, settings: PrivacySettings | None = None) -> RoutingContext:
        return context(
            self.catalog,
            settings or self.settings,
            callable_providers=self.callable_providers,
            stats=self.stats,
        )

    @property
    def candidate_models(self) -> list[str]:
        return list(dict.fromkeys([*([self.model] if self.model else []), *(self.models or [])]))

    def all_endpoints(self) -> Counter:
        return Counter(
            (m, e.provider) for m in self.candidate_models for e in self.catalog.models[m].endpoints
        )


ABSENT = object()  # a preference the request leaves out
# Constraints are drawn sparingly (weighted by repetition), so that most examples still
# have several eligible endpoints to order, and some have none.
POLICIES = st.sampled_from(
    [*product([True, False, None], [True, False, None]), *[(False, False)] * 3, (False, True)]
)
SOMETIMES = st.sampled_from([False, False, False, True])
QUANTIZATION = st.sampled_from([None, *QUANTIZATIONS])
WANTED_QUANTIZATIONS = st.lists(
    st.sampled_from([*QUANTIZATIONS, "unknown", "FP8", "Unknown"]), min_size=1, max_size=3
)
BOUND = st.sampled_from([None, *PRICES]).map(lambda v: None if v is None else Decimal(v))
BODY = st.sets(st.sampled_from(PARAMETERS), max_size=3)
SPELLINGS = st.sampled_from([str, str.upper, NAMES.get, lambda slug: NAMES[slug].lower()])


def one_of_or_absent(*values: Any) -> st.SearchStrategy:
    return st.sampled_from([*[ABSENT] * (2 * len(values)), *values])


def pick(draw, items: list, density: str = "half") -> list:
    """A subset of items, in their order: each in it with probability about 1/4, 1/2 or 3/4."""
    full = 2 ** len(items) - 1
    bits = draw(st.integers(0, full))
    if density == "sparse":
        bits &= draw(st.integers(0, full))
    elif density == "dense":
        bits |= draw(st.integers(0, full))
    return [item for i, item in enumerate(items) if bits >> i & 1]


@st.composite
def scenarios(draw) -> Scenario:
    slugs = SLUGS[: draw(st.integers(2, len(SLUGS)))]
    providers = []
    for slug in slugs:
        training, retains = draw(POLICIES)
        providers.append(provider(slug, NAMES[slug], training=training, retains=retains))
    models = []
    for i in range(draw(st.integers(1, 4))):
        model_id = f"lab/m{i}" + (":free" if draw(st.booleans()) else "")
        endpoints = []
        for slug in pick(draw, slugs, "dense"):
            prompt, completion = draw(PRICE_PAIRS)
            latency, throughput = draw(MEASURES)
            endpoints.append(
                endpoint(
                    slug,
                    prompt,
                    completion,
                    quantization=draw(QUANTIZATION),
                    params=draw(SUPPORTED),
                    latency_ms=latency,
                    throughput_tps=throughput,
                )
            )
        models.append(model(model_id, *endpoints))
    catalog = index(providers, models)
    model_ids = [m.id for m in models]

    pairs = [(m.id, e.provider) for m in models for e in m.endpoints]
    stats = {pair: EndpointStats(*draw(LIVE_STATS)) for pair in pick(draw, pairs)}

    account = PrivacySettings(
        enable_paid_model_training=draw(st.booleans()),
        enable_free_model_training=draw(st.booleans()),
        enforce_zdr=draw(SOMETIMES),
        ignored_providers=pick(draw, slugs, "sparse") if draw(SOMETIMES) else [],
        allowed_providers=pick(draw, slugs, "dense") if draw(SOMETIMES) else None,
    )
    callable_providers = frozenset(pick(draw, slugs, "dense")) if draw(SOMETIMES) else None

    primary = draw(st.sampled_from([None, *model_ids]))
    fallbacks = draw(st.one_of(st.none(), st.lists(st.sampled_from(model_ids), max_size=4)))
    if primary is None and not fallbacks:
        primary = model_ids[0]

    prefs: dict[str, Any] = {}
    refs: dict[str, list[str]] = {}
    for name in ("order", "only", "ignore"):
        if draw(SOMETIMES):
            prefs[name] = draw(st.lists(st.sampled_from(slugs), max_size=4))
            refs[name] = [draw(SPELLINGS)(slug) for slug in prefs[name]]
    optional = {
        "data_collection": one_of_or_absent("allow", "deny"),
        "zdr": one_of_or_absent(True, False),
        "quantizations": WANTED_QUANTIZATIONS if draw(SOMETIMES) else st.just(ABSENT),
        "max_price": st.fixed_dictionaries({"prompt": BOUND, "completion": BOUND})
        if draw(SOMETIMES)
        else st.just(ABSENT),
        "require_parameters": one_of_or_absent(True, False),
        "sort": one_of_or_absent("price", "throughput", "latency"),
        "allow_fallbacks": one_of_or_absent(True, False),
    }
    for name, strategy in optional.items():
        value = draw(strategy)
        if value is not ABSENT:
            prefs[name] = value
    body = {p: PARAMETER_VALUES[p] for p in sorted(draw(BODY))}
    return Scenario(
        catalog, account, callable_providers, stats, primary, fallbacks, prefs, refs, body
    )


def expected_reasons(candidate: Candidate, s: Scenario) -> set[str]:
    """The exclusion reasons, recomputed from the rules (without allow_fallbacks)."""
    prefs = s.prefs
    account = s.settings
    policy = candidate.provider.data_policy
    slug = candidate.provider.slug
    e = candidate.endpoint
    reasons = set()
    training_setting = (
        account.enable_free_model_training
        if candidate.model.id.endswith(":free")
        else account.enable_paid_model_training
    )
    if policy.training is not False and (
        not training_setting or prefs.get("data_collection") == "deny"
    ):
        reasons.add("data_policy:training")
    if (prefs.get("zdr") is True or account.enforce_zdr) and not (
        policy.training is False and policy.retains_prompts is False
    ):
        reasons.add("data_policy:zdr")
    if slug in account.ignored_providers:
        reasons.add("ignored_providers")
    if slug in prefs.get("ignore", []):
        reasons.add("ignore")
    if account.allowed_providers is not None and slug not in account.allowed_providers:
        reasons.add("allowed_providers")
    if "only" in prefs and slug not in prefs["only"]:
        reasons.add("only")
    bounds = prefs.get("max_price") or {}
    if (bounds.get("prompt") is not None and e.pricing.prompt * MILLION > bounds["prompt"]) or (
        bounds.get("completion") is not None
        and e.pricing.completion * MILLION > bounds["completion"]
    ):
        reasons.add("max_price")
    wanted = {q.lower() for q in prefs.get("quantizations") or ()}
    if "quantizations" in prefs and (e.quantization or "unknown") not in wanted:
        reasons.add("quantization")
    # A request with tools goes only where tools are supported, require_parameters or not.
    if "tools" in s.body and "tools" not in e.supported_parameters:
        reasons.add("unsupported:tools")
    if prefs.get("require_parameters") and not set(s.body) <= set(e.supported_parameters):
        reasons.add("require_parameters")
    if s.callable_providers is not None and slug not in s.callable_providers:
        reasons.add("unconfigured")
    return reasons


def keys(candidates: list[Candidate]) -> list[tuple[str, str]]:
    return [(c.model.id, c.provider.slug) for c in candidates]


def snapshot(decision: Decision) -> tuple:
    excluded = [(c.model.id, c.provider.slug, reasons) for c, reasons in decision.excluded]
    return keys(decision.eligible), excluded


def is_subsequence(short: list, long: list) -> bool:
    it = iter(long)
    return all(item in it for item in short)


PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def assert_privacy_invariants(s: Scenario) -> Decision:
    account = s.settings
    decision = decide(s.request(), s.ctx())
    for c in decision.eligible:
        policy = c.provider.data_policy
        slug = c.provider.slug
        # docs/privacy.md, invariant 2: training needs the account's consent for this class
        # of model, and no "deny" on the request.
        if policy.training is not False:
            if c.model.is_free:
                assert account.enable_free_model_training
            else:
                assert account.enable_paid_model_training
            assert s.prefs.get("data_collection") != "deny"
        # docs/privacy.md, invariant 3: ZDR from either side admits only known zero retention.
        if account.enforce_zdr or s.prefs.get("zdr"):
            assert policy.training is False
            assert policy.retains_prompts is False
        # docs/privacy.md, invariant 4: ignore merges, only intersects.
        assert slug not in account.ignored_providers
        assert slug not in s.prefs.get("ignore", [])
        if account.allowed_providers is not None:
            assert slug in account.allowed_providers
        if "only" in s.prefs:
            assert slug in s.prefs["only"]
    return decision


@PROPERTY
@given(scenarios())
def test_eligible_endpoints_respect_the_privacy_invariants(s: Scenario) -> None:
    assert_privacy_invariants(s)


@PROPERTY
@given(scenarios(), st.data())
def test_a_request_cannot_undo_the_account_settings(s: Scenario, data: st.DataObject) -> None:
    """A restrictive account against a request asking for everything.

    docs/privacy.md, invariant 4."""
    slugs = list(s.catalog.providers)
    some = st.lists(st.sampled_from(slugs), unique=True, min_size=1)
    account = PrivacySettings(
        enable_paid_model_training=data.draw(st.booleans()),
        enable_free_model_training=data.draw(st.booleans()),
        enforce_zdr=data.draw(st.booleans()),
        ignored_providers=data.draw(some),
        allowed_providers=data.draw(st.one_of(st.none(), some)),
    )
    asks = {"data_collection": "allow", "zdr": False, "only": slugs, "ignore": data.draw(some)}
    s = replace(s, settings=account, prefs=asks, refs={}, callable_providers=None, body={})
    decision = assert_privacy_invariants(s)
    for c, reasons in decision.excluded:
        if c.provider.slug in account.ignored_providers:
            assert "ignored_providers" in reasons


@PROPERTY
@given(scenarios())
def test_every_endpoint_is_eligible_or_excluded_exactly_once(s: Scenario) -> None:
    decision = decide(s.request(), s.ctx())
    seen = Counter(keys(decision.eligible)) + Counter(keys([c for c, _ in decision.excluded]))
    assert seen == s.all_endpoints()
    assert all(seen[k] == 1 for k in seen)
    for _, reasons in decision.excluded:
        assert reasons
        assert len(reasons) == len(set(reasons))
        if NOFB in reasons:
            assert reasons == [NOFB]
            assert s.prefs.get("allow_fallbacks") is False


@PROPERTY
@given(scenarios())
def test_exclusion_reasons_match_the_rules(s: Scenario) -> None:
    decision = decide(s.request(), s.ctx())
    for c in decision.eligible:
        assert expected_reasons(c, s) == set()
    for c, reasons in decision.excluded:
        if reasons == [NOFB]:
            assert expected_reasons(c, s) == set()
        else:
            assert set(reasons) == expected_reasons(c, s)


@PROPERTY
@given(scenarios())
def test_decide_is_deterministic_and_references_are_equivalent(s: Scenario) -> None:
    first = snapshot(decide(s.request(), s.ctx()))
    assert snapshot(decide(s.request(), s.ctx())) == first
    # Slugs instead of display names, and repeated fallback models, change nothing.
    assert snapshot(decide(s.request(as_written=False), s.ctx())) == first
    doubled = replace(s, models=[*(s.models or []), *s.candidate_models])
    assert snapshot(decide(doubled.request(), doubled.ctx())) == first


@PROPERTY
@given(scenarios())
def test_a_request_never_reaches_beyond_the_account_settings(s: Scenario) -> None:
    """docs/privacy.md, invariant 4: whatever a request says, it reaches a subset of what
    the account allows."""
    narrowed = set(keys(decide(s.request(), s.ctx()).eligible))
    bare = replace(s, body={})
    ceiling = set(keys(decide(bare.request({}), bare.ctx()).eligible))
    assert narrowed <= ceiling


LOOSER_REQUESTS = {
    "drop-only": lambda p: {k: v for k, v in p.items() if k != "only"},
    "drop-ignore": lambda p: {k: v for k, v in p.items() if k != "ignore"},
    "allow-data-collection": lambda p: {**p, "data_collection": "allow"},
    "drop-zdr": lambda p: {k: v for k, v in p.items() if k != "zdr"},
    "drop-quantizations": lambda p: {k: v for k, v in p.items() if k != "quantizations"},
    "drop-max-price": lambda p: {k: v for k, v in p.items() if k != "max_price"},
    "drop-require-parameters": lambda p: {**p, "require_parameters": False},
}


@PROPERTY
@given(scenarios(), st.sampled_from(sorted(LOOSER_REQUESTS)))
def test_loosening_a_request_keeps_every_eligible_endpoint_in_order(s: Scenario, how: str) -> None:
    # With fallbacks allowed, an endpoint's place does not depend on the others'.
    prefs = {**s.prefs, "allow_fallbacks": True}
    s = replace(s, prefs=prefs)
    strict = keys(decide(s.request(), s.ctx()).eligible)
    loose = replace(s, prefs=LOOSER_REQUESTS[how](prefs))
    looser = keys(decide(loose.request(), loose.ctx()).eligible)
    assert is_subsequence(strict, looser)


LOOSER_ACCOUNTS = {
    "paid-training": lambda a: a.model_copy(update={"enable_paid_model_training": True}),
    "free-training": lambda a: a.model_copy(update={"enable_free_model_training": True}),
    "no-zdr": lambda a: a.model_copy(update={"enforce_zdr": False}),
    "no-ignored": lambda a: a.model_copy(update={"ignored_providers": []}),
    "all-allowed": lambda a: a.model_copy(update={"allowed_providers": None}),
}


@PROPERTY
@given(scenarios(), st.sampled_from(sorted(LOOSER_ACCOUNTS)))
def test_loosening_the_account_keeps_every_eligible_endpoint_in_order(
    s: Scenario, how: str
) -> None:
    s = replace(s, prefs={**s.prefs, "allow_fallbacks": True})
    strict = keys(decide(s.request(), s.ctx()).eligible)
    looser = keys(decide(s.request(), s.ctx(LOOSER_ACCOUNTS[how](s.settings))).eligible)
    assert is_subsequence(strict, looser)


def effective(c: Candidate, s: Scenario) -> tuple[bool, Decimal, float, float]:
    """(unhealthy, price, throughput, latency) as the sort sees them."""
    live = s.stats.get((c.model.id, c.provider.slug), EndpointStats())
    hints = c.endpoint.hints
    tps = live.throughput_tps if live.throughput_tps is not None else hints.throughput_tps
    latency = live.latency_ms if live.latency_ms is not None else hints.latency_ms
    return (
        (live.error_rate or 0.0) > 0.25,
        c.endpoint.pricing.prompt + c.endpoint.pricing.completion,
        0.0 if tps is None else tps,
        float("inf") if latency is None else latency,
    )


def check_order(s: Scenario) -> None:
    decision = decide(s.request(), s.ctx())
    models = s.candidate_models
    blocks = [models.index(c.model.id) for c in decision.eligible]
    assert blocks == sorted(blocks), "each model's endpoints form one block, in request order"
    order = list(dict.fromkeys(s.prefs.get("order", [])))
    fallbacks = s.prefs.get("allow_fallbacks", True)
    sort = s.prefs.get("sort")
    for model_id in models:
        m = s.catalog.models[model_id]
        block = [c for c in decision.eligible if c.model.id == model_id]
        passing = [
            e.provider
            for e in m.endpoints
            if not expected_reasons(Candidate(m, e, s.catalog.providers[e.provider]), s)
        ]
        head = [c for c in block if c.provider.slug in order]
        positions = [order.index(c.provider.slug) for c in head]
        assert positions == sorted(positions), "`order` is followed"
        assert block[: len(head)] == head, "providers in `order` come first"
        rest = block[len(head) :]
        if fallbacks:
            assert len(block) == len(passing)
        elif order:
            assert rest == [], "without fallbacks, only the providers in `order`"
            assert len(head) == len([slug for slug in passing if slug in order])
        else:
            assert len(block) == min(1, len(passing)), "without fallbacks, the first-ranked"
        for a, b in pairwise(rest):
            ea, eb = effective(a, s), effective(b, s)
            assert ea[0] <= eb[0], "healthy endpoints before unhealthy ones"
            if ea[0] != eb[0]:
                continue
            if sort == "throughput":
                assert ea[2] >= eb[2]
            elif sort == "latency":
                assert ea[3] <= eb[3]
            else:
                assert ea[1] <= eb[1]
        if not fallbacks and not order and block:
            # The one kept is the best of all that pass, by the same ranking.
            best = min(
                (
                    Candidate(m, e, s.catalog.providers[e.provider])
                    for e in m.endpoints
                    if e.provider in passing
                ),
                key=lambda c: rank(c, s, sort),
            )
            assert block[0].provider.slug == best.provider.slug


def rank(c: Candidate, s: Scenario, sort: str | None) -> tuple:
    unhealthy, price, tps, latency = effective(c, s)
    primary = {"throughput": (-tps, price), "latency": (latency, price)}.get(sort, (price,))
    return (unhealthy, *primary, c.provider.slug)


@PROPERTY
@given(
    scenarios(),
    st.sampled_from([None, "price", "throughput", "latency"]),
    st.booleans(),
    st.lists(st.integers(0, len(SLUGS) - 1), max_size=3),
)
def test_eligible_endpoints_are_ordered_by_model_then_order_then_sort(
    s: Scenario, sort: str | None, fallbacks: bool, order: list[int]
) -> None:
    check_order(s)
    # The same catalog and request with a permissive account and only ordering
    # preferences, so that models have several eligible endpoints to order.
    slugs = list(s.catalog.providers)
    prefs = {"order": [slugs[i % len(slugs)] for i in order], "allow_fallbacks": fallbacks}
    if sort is not None:
        prefs["sort"] = sort
    permissive = PrivacySettings(enable_paid_model_training=True, enable_free_model_training=True)
    check_order(
        replace(s, settings=permissive, callable_providers=None, prefs=prefs, refs={}, body={})
    )


@PROPERTY
@given(scenarios())
def test_nothing_eligible_gives_the_right_404(s: Scenario) -> None:
    req, ctx = s.request(), s.ctx()
    decision = decide(req, ctx)
    if decision.eligible:
        return
    error = no_endpoint_error(decision, req, ctx)
    counts = Counter(r for _, reasons in decision.excluded for r in reasons)
    availability = error.metadata["availability"]
    assert error.code == 404
    assert sorted(availability["excluded_by"]) == sorted(counts)
    frequencies = [counts[r] for r in availability["excluded_by"]]
    assert frequencies == sorted(frequencies, reverse=True)
    if PRIVACY & counts.keys():
        assert availability["code"] == "privacy_restricted"
        assert availability["retryable"] is False
        assert error.message.startswith("No endpoints found matching your data policy (")
    else:
        assert availability["code"] == "no_endpoints"
        assert "data policy" not in error.message
