"""POST /routing/explain and GET /models/user: answered by the policy service, which
computes them with the same function that routes requests."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from veil.gateway.asking import ask
from veil.gateway.auth import Caller
from veil.gateway.responses import data
from veil.gateway.routes.catalog import ModelListDep, model_list_response
from veil.gateway.routes.chat import parse_chat_request, read_body
from veil.gateway.state import CallerDep, StateDep
from veil.schemas import subjects
from veil.schemas.errors import VeilError
from veil.schemas.queries import ExplainQuery, ExplainResult, UserModelsQuery, UserModelsResult

router = APIRouter()


def _account(who: Caller) -> str:
    if who.account_id is None:
        raise VeilError(403, "Routing is explained for an account: use one of its keys")
    return who.account_id


@router.post("/routing/explain")
async def explain(request: Request, who: CallerDep, state: StateDep) -> Response:
    account = _account(who)
    chat = parse_chat_request(await read_body(request, state.body_limit))
    query = ExplainQuery(
        account_id=account,
        settings_revision=state.privacy.revisions.get(account, 0),
        request=chat.routing_summary(),  # what routing reads, as for a chat request
    )
    result = await ask(state.broker, "policy", query, subjects.EXPLAIN, ExplainResult)
    return data(result.model_dump(include={"eligible", "excluded"}))


@router.get("/models/user")
async def user_models(who: CallerDep, state: StateDep, listing: ModelListDep) -> Response:
    account = _account(who)
    query = UserModelsQuery(
        account_id=account, settings_revision=state.privacy.revisions.get(account, 0)
    )
    result = await ask(state.broker, "policy", query, subjects.USER_MODELS, UserModelsResult)
    reachable = set(result.models)
    models = [m for m in state.index.catalog.models if m.id in reachable]
    return model_list_response(state, models, listing, "/models/user")
