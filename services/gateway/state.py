"""What the gateway's routes share, built once in the lifespan."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from faststream.nats import NatsBroker

from veil.catalog import CatalogIndex
from veil.endpoint_stats import EndpointStatsCache
from veil.gateway.audit import AuditTrail
from veil.gateway.auth import Authenticator, Caller
from veil.gateway.config import GatewaySettings
from veil.gateway.inbox import Inbox
from veil.gateway.limits import KeyLimits
from veil.gateway.ratelimit import RateLimits
from veil.guardrails import GuardrailIndex
from veil.keyring import Keyring
from veil.kvcache import KVCache
from veil.schemas.accounts import (
    Account,
    KeyRecord,
    KeyUsage,
    PrivacySettings,
)
from veil.schemas.errors import VeilError
from veil.schemas.guardrails import Guardrail


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
    stats: EndpointStatsCache
    usage: KVCache[KeyUsage]
    limits: KeyLimits
    rate_limits: RateLimits
    body_limit: int  # the largest body both the settings and the bus allow
    keyring: Keyring  # prompt-log keys; without the master key: it can only destroy them
    guardrails: KVCache[Guardrail]
    applying: GuardrailIndex  # which of them hold for a key
    audit: AuditTrail  # every change to an account, keys, settings and guardrails

    async def account_for(self, who: Caller, requested: str | None) -> str:
        """The existing account a request is about: a malformed id is a 400 (see
        `Caller.account_for`), a well-formed one no account has is a 404."""
        account = who.account_for(requested)
        if self.accounts.get(account) is None and await self.accounts.refresh(account) is None:
            raise VeilError(404, f"Account not found: {account}")
        return account


# Async on purpose: FastAPI runs plain `def` dependencies on a worker thread.
async def gateway_state(request: Request) -> GatewayState:
    return request.app.state.veil


async def caller(request: Request) -> Caller:
    return request.app.state.veil.auth.caller(request)


StateDep = Annotated[GatewayState, Depends(gateway_state)]
CallerDep = Annotated[Caller, Depends(caller)]
