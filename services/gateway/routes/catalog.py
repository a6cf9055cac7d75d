"""The catalog, public, in OpenRouter's shapes: GET /models, /models/count,
/models/{author}/{slug} (also /model/...), /models/{author}/{slug}/endpoints,
/endpoints/zdr and /providers."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from veil.gateway.catalog_views import (
    MAX_PAGE,
    filter_models,
    model_endpoints_view,
    model_list_view,
    model_view,
    provider_view,
    zero_retention_endpoints_view,
)
from veil.gateway.responses import data, json_response
from veil.gateway.state import GatewayState, StateDep
from veil.schemas.catalog import Model
from veil.schemas.errors import VeilError

router = APIRouter()


@dataclass
class ModelListQuery:
    """OpenRouter's list parameters that veil's catalog can answer; others are ignored."""

    offset: Annotated[int | None, Query(ge=0)] = None
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None
    supported_parameters: str | None = None
    input_modalities: str | None = None
    output_modalities: str | None = None
    zdr: bool = False

    def filters(self) -> dict[str, str]:
        """The filters as query parameters, for the next page's link."""
        named = {
            "supported_parameters": self.supported_parameters,
            "input_modalities": self.input_modalities,
            "output_modalities": self.output_modalities,
            "zdr": "true" if self.zdr else None,
        }
        return {k: v for k, v in named.items() if v is not None}


ModelListDep = Annotated[ModelListQuery, Depends()]


def model_list_response(
    state: GatewayState, models: list[Model], query: ModelListQuery, path: str
) -> Response:
    """GET /models and /models/user share this: filter, then one page."""
    kept = filter_models(
        models,
        state.index,
        supported_parameters=query.supported_parameters,
        input_modalities=query.input_modalities,
        output_modalities=query.output_modalities,
        zdr=query.zdr,
    )
    page = model_list_view(
        kept,
        state.index,
        path=path,
        offset=query.offset,
        limit=query.limit,
        query=query.filters(),
    )
    return json_response(page)


def _model(state: GatewayState, author: str, slug: str) -> Model:
    model = state.index.models.get(f"{author}/{slug}")
    if model is None:
        raise VeilError(404, f"Model not found: {author}/{slug}")
    return model


@router.get("/models")
async def list_models(state: StateDep, query: ModelListDep) -> Response:
    return model_list_response(state, list(state.index.catalog.models), query, "/models")


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
