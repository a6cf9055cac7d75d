"""GET /models, /models/{author}/{slug}/endpoints, /providers: the catalog, public."""

from fastapi import APIRouter
from fastapi.responses import Response

from veil.gateway.catalog_views import model_endpoints_view, model_view, provider_view
from veil.gateway.responses import data
from veil.gateway.state import StateDep
from veil.schemas import subjects
from veil.schemas.errors import VeilError

router = APIRouter()


@router.get("/models")
async def list_models(state: StateDep) -> Response:
    return data([model_view(m) for m in state.index.catalog.models])


@router.get("/models/{author}/{slug}/endpoints")
async def model_endpoints(author: str, slug: str, state: StateDep) -> Response:
    model = state.index.models.get(f"{author}/{slug}")
    if model is None:
        raise VeilError(404, f"Model not found: {author}/{slug}")
    snapshot = state.stats.get(subjects.ENDPOINT_STATS_KEY)
    stats = {(s.model, s.provider): s for s in (snapshot.endpoints if snapshot else [])}
    return data(model_endpoints_view(state.index, model, stats))


@router.get("/providers")
async def list_providers(state: StateDep) -> Response:
    return data([provider_view(p) for p in state.index.catalog.providers])
