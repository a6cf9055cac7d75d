"""POST /routing/explain and GET /models/user: answered by the policy service, which
computes them with the same function that routes requests.

Both take `?privacy=` (a JSON object, PATCH /privacy's body): the answer is then what
those changes to the account's settings would do, without making them. The console's
privacy page previews a change with it; nothing is routed or stored.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from veil.gateway.asking import ask
from veil.gateway.auth import Caller, KeyCaller, require_id
from veil.gateway.body import read_body
from veil.gateway.errors import json_object
from veil.gateway.guardrail_rules import checked_rules, guardrail_body, parsed_rules
from veil.gateway.privacy import parse_privacy_patch, patched_settings
from veil.gateway.state import CallerDep, GatewayState, StateDep
from veil.gateway.surfaces import COMPLETIONS, EMBEDDINGS
from veil.gateway.views.catalog import ModelListDep, model_list_response
from veil.gateway.views.responses import data
from veil.schemas import subjects
from veil.schemas.accounts import PrivacySettings
from veil.schemas.errors import VeilError
from veil.schemas.guardrails import GuardrailRules
from veil.schemas.queries import ExplainQuery, ExplainResult, UserModelsQuery, UserModelsResult

router = APIRouter()


PreviewDep = Annotated[
    str | None,
    Query(
        description="a JSON object of privacy settings to apply in this answer only, "
        "as PATCH /privacy takes them: what the change would do, without making it"
    ),
]


GuardrailPreviewDep = Annotated[
    str | None,
    Query(
        description="a JSON object of guardrail rules, as POST /guardrails takes them: the "
        "answer as if that guardrail also held, without making it"
    ),
]
KeyDep = Annotated[
    str | None,
    Query(
        description="answer for this key of the account (its guardrails), instead of the "
        "calling key; the admin key names one to see any key's guardrails"
    ),
]


def _key(state: GatewayState, who: Caller, account: str, key_hash: str | None) -> str | None:
    """The key whose guardrails hold in the answer: the one named, else the caller's."""
    if key_hash is None:
        return who.key_id if isinstance(who, KeyCaller) else None
    require_id("key", "key", key_hash)
    if not any(r.id == key_hash and r.account_id == account for r in state.keys.values.values()):
        raise VeilError(404, f"Key not found: {key_hash}")
    return key_hash


def _guardrail_preview(
    state: GatewayState, account: str, guardrail: str | None
) -> GuardrailRules | None:
    if guardrail is None:
        return None
    try:
        body = guardrail_body(guardrail.encode(), account)
        rules = parsed_rules({"name": "preview", **body}, GuardrailRules)
        return GuardrailRules.model_validate(checked_rules(rules.model_dump(), state.index))
    except VeilError as exc:
        raise VeilError(400, f"guardrail: {exc.message}", exc.metadata) from exc


async def _preview(
    state: GatewayState, account: str, privacy: str | None
) -> PrivacySettings | None:
    if privacy is None:
        return None
    try:
        patch = parse_privacy_patch(privacy.encode())
    except VeilError as exc:
        raise VeilError(400, f"privacy: {exc.message}", exc.metadata) from exc
    current = await state.privacy.refresh(account) or PrivacySettings()
    return patched_settings(current, patch, state.index)


@router.post("/routing/explain")
async def explain(
    request: Request,
    who: CallerDep,
    state: StateDep,
    privacy: PreviewDep = None,
    guardrail: GuardrailPreviewDep = None,
    key_hash: KeyDep = None,
    account_id: str | None = None,
) -> Response:
    account = await state.account_for(who, account_id)
    raw = await read_body(request, state.body_limit)
    # An embeddings request (it has `input`, no `messages`) is explained as it is routed.
    fields = json_object(raw)
    surface = EMBEDDINGS if "input" in fields and "messages" not in fields else COMPLETIONS
    routing = surface.parse(raw).routing
    query = ExplainQuery(
        account_id=account,
        key_id=_key(state, who, account, key_hash),
        guardrail=_guardrail_preview(state, account, guardrail),
        settings_revision=state.privacy.revisions.get(account, 0),
        request=routing,  # what routing reads, as for a request of that surface
        settings=await _preview(state, account, privacy),
    )
    result = await ask(state.broker, "policy", query, subjects.EXPLAIN, ExplainResult)
    return data(result.model_dump(include={"eligible", "excluded"}))


@router.get("/models/user")
async def user_models(
    who: CallerDep,
    state: StateDep,
    listing: ModelListDep,
    privacy: PreviewDep = None,
    guardrail: GuardrailPreviewDep = None,
    key_hash: KeyDep = None,
    account_id: str | None = None,
) -> Response:
    account = await state.account_for(who, account_id)
    query = UserModelsQuery(
        account_id=account,
        key_id=_key(state, who, account, key_hash),
        guardrail=_guardrail_preview(state, account, guardrail),
        settings_revision=state.privacy.revisions.get(account, 0),
        settings=await _preview(state, account, privacy),
    )
    result = await ask(state.broker, "policy", query, subjects.USER_MODELS, UserModelsResult)
    reachable = set(result.models)
    models = [m for m in state.index.catalog.models if m.id in reachable]
    return model_list_response(state.index, models, listing, "/models/user")
