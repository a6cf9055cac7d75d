"""Where each provider is reached: the simulator, or the real API with its key."""

from veil.dispatcher.upstreams.base import UpstreamTarget
from veil.schemas.catalog import Catalog


def upstream_targets(
    catalog: Catalog, mode: str, simulator_url: str | None, keys: dict[str, str]
) -> dict[str, UpstreamTarget]:
    """Callable providers only: in live mode one without base URL or key is left out."""
    if mode == "simulated" and not simulator_url:
        raise ValueError("simulated upstreams need VEIL_SIMULATOR_URL (veil up sets it)")
    targets = {}
    for provider in catalog.providers:
        if mode == "simulated":
            base_url = f"{simulator_url.rstrip('/')}/{provider.slug}/v1"  # type: ignore[union-attr]
            key = "simulated"
        elif provider.base_url and provider.slug in keys:
            base_url, key = provider.base_url, keys[provider.slug]
        else:
            continue
        targets[provider.slug] = UpstreamTarget(
            base_url=base_url,
            api_key=key,
            auth_header=provider.auth_header,
            headers=dict(provider.headers),
            query=dict(provider.query),
        )
    return targets
