"""The catalog, public, in OpenRouter's shapes: GET /models, /models/count,
/models/{author}/{slug} (also /model/...), /models/{author}/{slug}/endpoints,
/endpoints/zdr and /providers."""

from fastapi import APIRouter
from fastapi.responses import Response

from veil.gateway.state import GatewayState, StateDep
from veil.gateway.views.catalog import (
    ModelListDep,
    filter_models,
    model_endpoints_view,
    model_list_response,
    model_view,
    provider_view,
    zero_retention_endpoints_view,
)
from veil.gateway.views.responses import data
from veil.schemas.catalog import Model
from veil.schemas.errors import VeilError

router = APIRouter()


def _model(state: GatewayState, author: str, slug: str) -> Model:
    model = state.index.models.get(f"{author}/{slug}")
    if model is None:
        raise VeilError(404, f"Model not found: {author}/{slug}")
    return model


@router.get("/models")
async def list_models(state: StateDep, query: ModelListDep) -> Response:
    return model_list_response(state.index, list(state.index.catalog.models), query, "/models")


@router.get("/models/count")
async def count_models(state: StateDep, output_modalities: str | None = None) -> Response:
    kept = filter_models(
        state.index.catalog.models, state.index, output_modalities=output_modalities
    )
    return data({"count": len(kept)})


# The SDK asks /model/...; /models/... is the path the rest of the API uses. A ":free"
# variant's slug keeps its colon: the path parameter takes everything up to the next "/".
@router.get("/model/{author}/{slug}")
@router.get("/models/{author}/{slug}")
async def get_model(author: str, slug: str, state: StateDep) -> Response:
    return data(model_view(_model(state, author, slug), state.index))


@router.get("/models/{author}/{slug}/endpoints")
async def model_endpoints(author: str, slug: str, state: StateDep) -> Response:
    model = _model(state, author, slug)
    return data(model_endpoints_view(state.index, model, state.stats.by_endpoint()))


@router.get("/endpoints/zdr")
async def zero_retention_endpoints(state: StateDep) -> Response:
    return data(zero_retention_endpoints_view(state.index, state.stats.by_endpoint()))


@router.get("/providers")
async def list_providers(state: StateDep) -> Response:
    return data([provider_view(p) for p in state.index.catalog.providers])
