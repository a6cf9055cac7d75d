"""Guardrails only ever tighten (docs/privacy.md, invariant 10), over random catalogs,
account settings, requests and guardrails:

- adding a guardrail never adds an endpoint the rules allow (one left out only because
  `allow_fallbacks: false` keeps the first was allowed: it is tried when the first goes),
  and keeps the others in order;
- whatever guardrails hold, an eligible endpoint is one `combine` allows: the account's
  settings and every guardrail together, allowlists intersected, ignore-lists united,
  restricting booleans OR-ed;
- each guardrail's exclusions are named by it, and only by rules it sets.
"""

import dataclasses
import time

from hypothesis import given
from hypothesis import strategies as st

from veil.catalog import CatalogIndex
from veil.policy.eligibility import decide
from veil.policy.guardrails import PREFIX, combine
from veil.schemas.catalog import Catalog
from veil.schemas.guardrails import Guardrail

from .test_eligibility_properties import (
    NOFB,
    PROPERTY,
    Scenario,
    is_subsequence,
    pick,
    scenarios,
)

# Rules drawn sparingly: most guardrails set one or two of them.
SOMETIMES = st.sampled_from([False, False, True])
MAYBE_FALSE = st.sampled_from([None, None, False, True])


@st.composite
def guardrails(draw, s: Scenario, number: int) -> Guardrail:
    slugs = sorted(s.catalog.providers)
    models = sorted(s.catalog.models)
    return Guardrail(
        id=f"gr-{number:04d}",
        account_id="acct-1",
        name=f"guardrail {number}",
        created_at=time.time(),
        allowed_providers=pick(draw, slugs, "dense") if draw(SOMETIMES) else None,
        ignored_providers=pick(draw, slugs, "sparse") if draw(SOMETIMES) else None,
        allowed_models=pick(draw, models, "dense") if draw(SOMETIMES) else None,
        ignored_models=pick(draw, models, "sparse") if draw(SOMETIMES) else None,
        enforce_zdr=draw(st.sampled_from([None, None, False, True])),
        enable_paid_model_training=draw(MAYBE_FALSE),
        enable_free_model_training=draw(MAYBE_FALSE),
    )


def eligible(s: Scenario, held: list[Guardrail]) -> list[tuple[str, str]]:
    ctx = dataclasses.replace(s.ctx(), guardrails=tuple(held))
    return allowed(decide(s.request(), ctx))


def allowed(decision) -> list[tuple[str, str]]:
    """The endpoints every rule allows: the eligible ones, in order, then those left out
    only because `allow_fallbacks: false` keeps the first (when a rule removes the first,
    the next one is tried: it was allowed all along)."""
    kept = [(c.model.id, c.provider.slug) for c in decision.eligible]
    return kept + [
        (c.model.id, c.provider.slug) for c, reasons in decision.excluded if reasons == [NOFB]
    ]


@PROPERTY
@given(scenarios(), st.data())
def test_adding_a_guardrail_never_adds_an_eligible_endpoint(s: Scenario, data) -> None:
    held = [data.draw(guardrails(s, n)) for n in range(data.draw(st.integers(0, 2)))]
    added = data.draw(guardrails(s, 99))
    before = eligible(s, held)
    after = eligible(s, [*held, added])
    assert set(after) <= set(before)
    if s.prefs.get("allow_fallbacks") is not False:
        assert is_subsequence(after, before)  # and the rest keep their order


@PROPERTY
@given(scenarios(), st.data())
def test_what_routes_is_what_the_combined_policy_allows(s: Scenario, data) -> None:
    held = tuple(data.draw(guardrails(s, n)) for n in range(data.draw(st.integers(0, 3))))
    policy = combine(s.settings, held)
    ctx = dataclasses.replace(s.ctx(), guardrails=held)
    decision = decide(s.request(), ctx)
    for candidate in decision.eligible:
        assert policy.allows(candidate)
    # A training or ZDR exclusion is the account's only when the request asked for none.
    request_side = s.prefs.get("data_collection") == "deny" or bool(s.prefs.get("zdr"))
    accounts = {"ignored_providers", "allowed_providers"}
    if not request_side:
        accounts |= {"data_policy:training", "data_policy:zdr"}
    privacy = accounts | {"data_policy:training", "data_policy:zdr"}
    for candidate, reasons in decision.excluded:
        by_policy = {r for r in reasons if r.startswith(PREFIX) or r in accounts}
        if by_policy:
            assert not policy.allows(candidate), (candidate, reasons)
        elif not privacy & set(reasons):
            assert policy.allows(candidate), (candidate, reasons)


@PROPERTY
@given(scenarios(), st.data())
def test_each_guardrail_names_only_the_rules_it_sets(s: Scenario, data) -> None:
    held = tuple(data.draw(guardrails(s, n)) for n in range(data.draw(st.integers(1, 3))))
    by_id = {g.id: g for g in held}
    ctx = dataclasses.replace(s.ctx(), guardrails=held)
    for candidate, reasons in decide(s.request(), ctx).excluded:
        for named in (r for r in reasons if r.startswith(PREFIX)):
            guardrail_id, rule = named.removeprefix(PREFIX).rsplit(":", 1)
            g = by_id[guardrail_id]
            slug, model_id = candidate.provider.slug, candidate.model.id
            policy = candidate.provider.data_policy
            assert {
                "allowed_providers": g.allowed_providers is not None
                and slug not in g.allowed_providers,
                "ignored_providers": slug in (g.ignored_providers or ()),
                "allowed_models": g.allowed_models is not None and model_id not in g.allowed_models,
                "ignored_models": model_id in (g.ignored_models or ()),
                "enforce_zdr": bool(g.enforce_zdr) and not policy.zero_retention,
                "enable_paid_model_training": policy.may_train
                and not candidate.model.is_free
                and g.enable_paid_model_training is False,
                "enable_free_model_training": policy.may_train
                and candidate.model.is_free
                and g.enable_free_model_training is False,
            }[rule], (rule, g)


@PROPERTY
@given(scenarios(), st.data())
def test_combining_is_fail_closed_and_order_free(s: Scenario, data) -> None:
    held = [data.draw(guardrails(s, n)) for n in range(data.draw(st.integers(0, 3)))]
    policy = combine(s.settings, held)
    assert combine(s.settings, list(reversed(held))) == dataclasses.replace(
        policy, guardrail_ids=tuple(reversed(policy.guardrail_ids))
    )
    for g in held:
        if g.allowed_providers is not None:
            assert policy.allowed_providers is not None
            assert policy.allowed_providers <= set(g.allowed_providers)
        assert set(g.ignored_providers or ()) <= policy.ignored_providers
        assert set(g.ignored_models or ()) <= policy.ignored_models
        if g.enforce_zdr:
            assert policy.enforce_zdr
        if g.enable_paid_model_training is False:
            assert not policy.paid_model_training
    if s.settings.allowed_providers is not None:
        assert policy.allowed_providers is not None
        assert policy.allowed_providers <= set(s.settings.allowed_providers)
    assert set(s.settings.ignored_providers) <= policy.ignored_providers
    assert policy.enforce_zdr >= s.settings.enforce_zdr
    assert policy.paid_model_training <= s.settings.enable_paid_model_training
    assert policy.free_model_training <= s.settings.enable_free_model_training


COUNTRIES = ["DE", "FR", "US", "GB"]
REGIONS = {"eu": ("DE", "FR"), "us": ("US",), "uk": ("GB",), "west": ("DE", "FR", "GB", "US")}


@st.composite
def located(draw, s: Scenario) -> Scenario:
    """`s` with providers at random places (some unknown), the catalog's named regions,
    and maybe an account region."""
    providers = [
        p.model_copy(
            update={
                "datacenters": tuple(sorted(set(pick(draw, COUNTRIES, "sparse")) or {"DE"}))
                if draw(st.booleans())
                else None
            }
        )
        for p in s.catalog.catalog.providers
    ]
    catalog = Catalog(providers=tuple(providers), models=s.catalog.catalog.models, regions=REGIONS)
    account = s.settings.model_copy(
        update={"data_region": draw(st.sampled_from([None, None, *REGIONS]))}
    )
    return dataclasses.replace(s, catalog=CatalogIndex(catalog), settings=account)


@PROPERTY
@given(scenarios(), st.data())
def test_under_a_region_only_endpoints_known_to_run_within_it_are_eligible(
    s: Scenario, data
) -> None:
    s = data.draw(located(s))
    wanted = data.draw(st.lists(st.sampled_from(sorted(REGIONS)), min_size=1, max_size=2))
    held = (Guardrail(id="gr-r", account_id="acct-1", name="r", created_at=0.0,
                      allowed_regions=wanted),)  # fmt: skip
    ctx = dataclasses.replace(s.ctx(), guardrails=held)
    policy = combine(s.settings, held, REGIONS)
    for candidate in decide(s.request(), ctx).eligible:
        places = candidate.endpoint.datacenters or candidate.provider.datacenters
        assert places is not None  # unknown is never in a region
        assert any(set(places) <= set(REGIONS[r]) for r in wanted)
        if s.settings.data_region:
            assert set(places) <= set(REGIONS[s.settings.data_region])
        assert policy.allows(candidate)
    # and a region only ever removes endpoints
    without = dataclasses.replace(s.ctx(), guardrails=())
    regionless = s.settings.model_copy(update={"data_region": None})
    loose = dataclasses.replace(without, settings=regionless)
    assert set(allowed(decide(s.request(), ctx))) <= set(allowed(decide(s.request(), loose)))
