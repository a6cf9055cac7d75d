"""What the gateway's routes share, built once in the lifespan."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from faststream.nats import NatsBroker

from veil.catalog import CatalogIndex
from veil.gateway.auth import Authenticator, Caller
from veil.gateway.config import GatewaySettings
from veil.gateway.inbox import Inbox
from veil.gateway.limits import KeyLimits
from veil.kvcache import KVCache
from veil.schemas.accounts import (
    Account,
    EndpointStatsSnapshot,
    KeyRecord,
    KeyUsage,
    PrivacySettings,
)


@dataclass
class GatewayState:
    settings: GatewaySettings
    broker: NatsBroker
    inbox: Inbox
    index: CatalogIndex
    auth: Authenticator
    accounts: KVCache[Account]
    keys: KVCache[KeyRecord]
    privacy: KVCache[PrivacySettings]
    stats: KVCache[EndpointStatsSnapshot]
    usage: KVCache[KeyUsage]
    limits: KeyLimits
    body_limit: int  # the largest body both the settings and the bus allow


# Async on purpose: FastAPI runs plain `def` dependencies on a worker thread.
async def gateway_state(request: Request) -> GatewayState:
    return request.app.state.veil


async def caller(request: Request) -> Caller:
    return request.app.state.veil.auth.caller(request)


StateDep = Annotated[GatewayState, Depends(gateway_state)]
CallerDep = Annotated[Caller, Depends(caller)]
