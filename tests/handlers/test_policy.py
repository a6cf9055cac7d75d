"""Policy's FastStream handlers on the in-memory broker: routing explained and the models
an account can reach, from settings as the KV buckets would hold them.

The hot path (`veil.request.v1`) is a plain nats-py subscription (`veil.bus.
subscribe_framed`), which TestNatsBroker does not carry: it is tested against a real
nats-server in tests/integration."""

import pytest
from faststream.nats import NatsBroker, TestNatsBroker

from veil.catalog import CatalogIndex
from veil.endpoint_stats import EndpointStatsCache
from veil.guardrails import GuardrailIndex
from veil.kvcache import KVCache
from veil.policy.handlers import build_router
from veil.policy.state import PolicyState
from veil.schemas import subjects
from veil.schemas.accounts import PrivacySettings, UpstreamAvailability
from veil.schemas.chat import RoutingSummary
from veil.schemas.guardrails import Guardrail
from veil.schemas.messages import HealthReply
from veil.schemas.queries import ExplainQuery, ExplainResult, UserModelsQuery, UserModelsResult

MODEL = "meta-llama/llama-3.1-8b-instruct"


def policy_state(settings: dict[str, PrivacySettings]) -> PolicyState:
    """Policy's state with its KV mirrors filled as their watchers would fill them."""
    state = PolicyState(index=CatalogIndex.load(), sample_rate=0.0, unhealthy_error_rate=0.25)
    state.privacy = KVCache(None, PrivacySettings)  # type: ignore[arg-type]
    for revision, (account, value) in enumerate(settings.items(), start=1):
        state.privacy.apply(account, value.model_dump_json().encode(), revision, False)
    state.guardrails = KVCache(None, Guardrail)  # type: ignore[arg-type]
    state.applying = GuardrailIndex(state.guardrails, state.privacy)
    state.upstreams = KVCache(None, UpstreamAvailability)  # type: ignore[arg-type]
    state.stats = EndpointStatsCache(None)  # type: ignore[arg-type]
    return state


@pytest.fixture
def settings() -> dict[str, PrivacySettings]:
    return {
        "acct-zdr": PrivacySettings(enforce_zdr=True),
        "acct-open": PrivacySettings(enable_paid_model_training=True),
    }


async def ask(state: PolicyState, query, subject: str, answer):
    broker = NatsBroker()
    broker.include_router(build_router(state))
    async with TestNatsBroker(broker) as bus:
        reply = await bus.request(query, subject)
        return answer.model_validate_json(reply.body)


async def test_explain_names_every_excluded_endpoint_and_why(settings):
    query = ExplainQuery(account_id="acct-zdr", request=RoutingSummary(model=MODEL))
    result = await ask(policy_state(settings), query, subjects.EXPLAIN, ExplainResult)
    assert result.error is None
    assert result.eligible, "a zero-retention endpoint serves this model"
    for endpoint in result.eligible:
        assert endpoint.data_policy.zero_retention, endpoint
        assert endpoint.model == MODEL
        assert float(endpoint.pricing.prompt) >= 0
    assert result.excluded
    assert all(e.excluded_by for e in result.excluded)
    assert any("zdr" in reason for e in result.excluded for reason in e.excluded_by)


async def test_an_account_without_zdr_reaches_more_endpoints(settings):
    state = policy_state(settings)
    strict = ExplainQuery(account_id="acct-zdr", request=RoutingSummary(model=MODEL))
    loose = ExplainQuery(account_id="acct-open", request=RoutingSummary(model=MODEL))
    narrow = await ask(state, strict, subjects.EXPLAIN, ExplainResult)
    wide = await ask(state, loose, subjects.EXPLAIN, ExplainResult)
    assert {e.provider for e in narrow.eligible} < {e.provider for e in wide.eligible}


async def test_an_unknown_model_is_an_error_answer_not_a_crash(settings):
    query = ExplainQuery(account_id="acct-open", request=RoutingSummary(model="acme/nothing"))
    result = await ask(policy_state(settings), query, subjects.EXPLAIN, ExplainResult)
    assert result.error is not None
    assert result.error.code in (400, 404)
    assert result.eligible == []


async def test_user_models_are_those_the_settings_reach(settings):
    state = policy_state(settings)
    strict = await ask(
        state, UserModelsQuery(account_id="acct-zdr"), subjects.USER_MODELS, UserModelsResult
    )
    loose = await ask(
        state, UserModelsQuery(account_id="acct-open"), subjects.USER_MODELS, UserModelsResult
    )
    assert MODEL in strict.models
    assert set(strict.models) < set(loose.models) <= set(state.index.models)


async def test_health_answers_with_the_catalog_size(settings):
    state = policy_state(settings)
    reply = await ask(state, None, subjects.health_subject("policy"), HealthReply)
    assert reply.service == "policy"
    assert reply.detail == {"models": len(state.index.models)}
