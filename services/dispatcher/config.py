import os

from pydantic import Field

from veil.config import CommonSettings
from veil.schemas.catalog import Catalog


class DispatcherSettings(CommonSettings):
    connect_timeout: float = 5.0
    first_token_timeout: float = 60.0  # also the longest silence tolerated mid-stream
    deadline: float = 600.0  # no request runs longer than this
    max_connections: int = 1024
    concurrency: int = 2048  # requests handled at once by one dispatcher process
    drain_timeout: float = 30.0  # on shutdown, how long requests in flight may finish
    heartbeat_interval: float = 5.0  # "still working" to gateways; keep below their idle_timeout
    # The outbox's group commit: records a power cut can lose are at most this old
    # (a killed process loses none; veil.outbox).
    outbox_sync_interval: float = Field(default=0.1, gt=0, le=10)


def provider_keys(catalog: Catalog) -> dict[str, str]:
    """Provider API keys named by the catalog's `api_key_env`, for live mode.

    Only the dispatcher reads them: it is the one service holding credentials.
    """
    keys = {}
    for provider in catalog.providers:
        value = os.environ.get(provider.api_key_env or "")
        if provider.api_key_env and value:
            keys[provider.slug] = value
    return keys
