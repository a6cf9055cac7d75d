"""API keys and credits in OpenRouter's shapes: /key, /keys[/{hash}], /credits.

A key's `hash` (the id in paths) is veil's public key id (`key-...`), not the sha256 of
the raw key: that digest is what the KV store authenticates with, so it never leaves
the gateway. veil's older clients call the same value `id`; both fields are returned.
Only the admin key and an account's management keys manage keys, and a management key
sees only its own account's keys.
"""

import datetime as dt
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from veil.gateway.asking import ask_metrics
from veil.gateway.audit import changed, key_action, key_settings
from veil.gateway.auth import AdminCaller, Caller, KeyCaller, require_id
from veil.gateway.limits import KeySpend
from veil.gateway.state import CallerDep, GatewayState, StateDep
from veil.gateway.views.responses import data, json_response
from veil.keys import hash_key, key_label, new_id, new_key
from veil.schemas import subjects
from veil.schemas.accounts import KeyKind, KeyRecord, LimitReset, RateLimit
from veil.schemas.errors import VeilError
from veil.schemas.queries import CreditsQuery, CreditsResult

router = APIRouter()
Usd = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# veil calls providers with the operator's keys only: no BYOK spend exists to report.
NO_BYOK = dict.fromkeys(
    ("byok_usage", "byok_usage_daily", "byok_usage_weekly", "byok_usage_monthly"), 0.0
)


class NewKey(BaseModel):
    account_id: str | None = None
    workspace_id: str | None = Field(default=None, description="OpenRouter's name for it")
    name: str = Field(default="default", min_length=1, max_length=200)
    kind: KeyKind = "inference"
    limit: Usd | None = None
    limit_reset: LimitReset | None = None
    include_byok_in_limit: bool = False
    expires_at: dt.datetime | None = None
    rate_limit: RateLimit | None = Field(
        default=None, description="veil's: requests per interval; null: the gateway's default"
    )


class KeyPatch(BaseModel):
    """Fields left out stay as they are; `limit: null` and `limit_reset: null` clear,
    `rate_limit: null` returns the key to the gateway's default rate limit."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    disabled: bool | None = None
    limit: Usd | None = None
    limit_reset: LimitReset | None = None
    include_byok_in_limit: bool | None = None
    workspace_id: str | None = None
    rate_limit: RateLimit | None = None


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rate_limit_view(record: KeyRecord, default: RateLimit | None) -> dict:
    """The request rate limit veil enforces on the key, in OpenRouter's `rate_limit`
    shape; `requests: -1` is OpenRouter's own "no limit"."""
    limit = record.rate_limit or default
    if limit is None or limit.requests == -1:
        interval = limit.interval if limit is not None else "10s"
        return {"requests": -1, "interval": interval, "note": "No request rate limit."}
    source = "this key's own limit" if record.rate_limit else "the gateway's default"
    return {
        "requests": limit.requests,
        "interval": limit.interval,
        "note": f"Enforced by veil across its gateways ({source}); 429 with Retry-After above.",
    }


def key_view(record: KeyRecord, spend: KeySpend, default_rate: RateLimit | None) -> dict:
    """One key as OpenRouter lists it, plus veil's `id`, `kind`, `account_id` and the
    request `rate_limit` it enforces."""
    return {
        "hash": record.id,
        "id": record.id,
        "name": record.name,
        "label": record.label,
        "kind": record.kind,
        "account_id": record.account_id,
        # OpenRouter groups keys in workspaces; in veil the account is that group.
        "workspace_id": record.account_id,
        "disabled": record.disabled,
        "limit": record.limit,
        "limit_remaining": spend.limit_remaining,
        "limit_reset": record.limit_reset,
        "include_byok_in_limit": record.include_byok_in_limit,
        "usage": spend.usage,
        "usage_daily": spend.usage_daily,
        "usage_weekly": spend.usage_weekly,
        "usage_monthly": spend.usage_monthly,
        **NO_BYOK,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "last_used_at": _iso(spend.last_used_at),
        "expires_at": _iso(record.expires_at),
        "creator_user_id": None,  # veil has accounts, not users
        "external_user": None,
        "rate_limit": rate_limit_view(record, default_rate),
    }


def _guardrail_budgets(state: GatewayState, record: KeyRecord) -> list[dict]:
    """The budgets of the guardrails that hold for the key: the account's default
    guardrail's (OpenRouter's `workspace_default_key` layer), then those assigned to it."""
    settings = state.privacy.get(record.account_id)
    default_id = settings.default_guardrail_id if settings else None
    layers = []
    for guardrail in state.applying.for_key(record.account_id, record.id):
        if guardrail.limit_usd is None:
            continue
        spent, resets_at = state.limits.guardrail_spend(record.id, guardrail)
        layers.append(
            {
                "scope": "workspace_default_key" if guardrail.id == default_id else "api_key",
                "budget_id": None,
                "guardrail_id": guardrail.id,
                "include_byok": guardrail.include_byok_in_budgets,
                "limit_usd": guardrail.limit_usd,
                "spend_usd": spent,
                "remaining_usd": guardrail.limit_usd - spent,
                "reset_interval": guardrail.reset_interval,
                "resets_at": _iso(resets_at),
            }
        )
    return layers


def _budgets(record: KeyRecord, spend: KeySpend) -> list[dict]:
    """The key's own limit as OpenRouter's key budget layer."""
    if record.limit is None:
        return []
    return [
        {
            "scope": "key_limit",
            "budget_id": None,
            "guardrail_id": None,
            "include_byok": record.include_byok_in_limit,
            "limit_usd": record.limit,
            "spend_usd": spend.limit_spent,
            "remaining_usd": spend.limit_remaining,
            "reset_interval": record.limit_reset,
            "resets_at": _iso(spend.resets_at),
        }
    ]


@router.get("/key")
async def current_key(who: CallerDep, state: StateDep) -> Response:
    if not isinstance(who, KeyCaller):
        raise VeilError(403, "The admin key belongs to no account; /key describes an account key")
    record = who.record
    spend = state.limits.spend(record)
    budgets = _budgets(record, spend) + _guardrail_budgets(state, record)
    # The layer that stops the key first (each holds on its own).
    effective = min(budgets, key=lambda b: b["remaining_usd"]) if budgets else None
    return data(
        {
            **key_view(record, spend, state.rate_limits.default),
            "is_management_key": record.kind == "management",
            "is_provisioning_key": record.kind == "management",  # OpenRouter's older name
            "is_free_tier": False,  # veil applies no free-tier restrictions
            "budgets": budgets,
            "effective_budget": effective,
            "organization_id": None,
            # veil restricts providers by data policy, never by region.
            "allowed_data_regions": ["global"],
            # veil enforces no free-model quota; -1 is OpenRouter's "no limit".
            "free_model_daily_requests": {
                "used": state.limits.free_requests_today(record.account_id),
                "limit": -1,
                "remaining": -1,
            },
        }
    )


def _require_manager(who: Caller, action: str) -> None:
    if not who.can_manage:
        raise VeilError(403, f"{action} needs a management key or the admin key")


def _named(*ids: str | None) -> str | None:
    """The first id the request gives: an empty one counts (and is a 400), an absent one not."""
    return next((value for value in ids if value is not None), None)


def _find(state: GatewayState, who: Caller, key_hash: str) -> tuple[str, KeyRecord]:
    """The KV digest and record of a key the caller may manage (404 for anyone else's)."""
    require_id("key", "key", key_hash)
    for digest, record in state.keys.values.items():
        if record.id == key_hash and (
            isinstance(who, AdminCaller) or record.account_id == who.account_id
        ):
            return digest, record
    raise VeilError(404, f"Key not found: {key_hash}")


@router.post("/keys")
async def create_key(
    body: NewKey, who: CallerDep, state: StateDep, account_id: str | None = None
) -> Response:
    _require_manager(who, "Creating keys")
    account = await state.account_for(who, _named(body.account_id, body.workspace_id, account_id))
    held = sum(1 for r in state.keys.values.values() if r.account_id == account)
    cap = state.settings.max_keys_per_account
    if held >= cap:
        # 403, as OpenRouter's key API answers a creation it refuses (it declares no 409).
        raise VeilError(
            403,
            f"This account already has {held} keys, the most allowed ({cap}); delete one first",
            {"keys": held, "max_keys_per_account": cap},
        )
    now = time.time()
    expires_at = None
    if body.expires_at is not None:
        moment = body.expires_at
        expires_at = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
        if expires_at <= now:
            raise VeilError(400, "Invalid request: expires_at must be in the future")
    raw = new_key()
    record = KeyRecord(
        id=new_id("key"),
        account_id=account,
        name=body.name,
        kind=body.kind,
        created_at=now,
        label=key_label(raw),
        limit=body.limit,
        limit_reset=body.limit_reset,
        include_byok_in_limit=body.include_byok_in_limit,
        expires_at=expires_at,
        rate_limit=body.rate_limit,
    )
    await state.keys.put(hash_key(raw), record)
    await state.audit.record(account, who, "key.create", record.id, after=key_settings(record))
    # The raw key is in this response and nowhere else, ever: only its hash is stored.
    view = key_view(record, state.limits.spend(record), state.rate_limits.default)
    return json_response({"key": raw, "data": view}, 201)


@router.get("/keys")
async def list_keys(
    who: CallerDep,
    state: StateDep,
    account_id: str | None = None,
    workspace_id: str | None = None,
    include_disabled: bool = False,
    include_expired: bool = False,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    _require_manager(who, "Listing keys")
    account = await state.account_for(who, _named(account_id, workspace_id))
    now = time.time()
    records = sorted(
        (
            r
            for r in state.keys.values.values()
            if r.account_id == account
            and (include_disabled or not r.disabled)
            and (include_expired or r.expires_at is None or r.expires_at > now)
        ),
        key=lambda r: r.created_at,
    )
    default_rate = state.rate_limits.default
    return data([key_view(r, state.limits.spend(r, now), default_rate) for r in records[offset:]])


@router.get("/keys/{key_hash}")
async def get_key(key_hash: str, who: CallerDep, state: StateDep) -> Response:
    _require_manager(who, "Reading keys")
    _, record = _find(state, who, key_hash)
    return data(key_view(record, state.limits.spend(record), state.rate_limits.default))


@router.patch("/keys/{key_hash}")
async def update_key(key_hash: str, body: KeyPatch, who: CallerDep, state: StateDep) -> Response:
    _require_manager(who, "Updating keys")
    digest, record = _find(state, who, key_hash)
    given = body.model_fields_set
    if body.workspace_id is not None and body.workspace_id != record.account_id:
        raise VeilError(400, "Invalid request: a key cannot move to another account")
    changes: dict[str, Any] = {
        name: getattr(body, name)
        for name in ("name", "disabled", "include_byok_in_limit")
        if name in given and getattr(body, name) is not None
    }
    changes |= {
        name: getattr(body, name)
        for name in ("limit", "limit_reset", "rate_limit")
        if name in given
    }
    updated = record.model_copy(update={**changes, "updated_at": time.time()})
    await state.keys.put(digest, updated)
    before, after = changed(key_settings(record), key_settings(updated))
    if after:
        action = key_action(before, after)
        await state.audit.record(record.account_id, who, action, record.id, before, after)
    return data(key_view(updated, state.limits.spend(updated), state.rate_limits.default))


@router.delete("/keys/{key_hash}")
async def delete_key(key_hash: str, who: CallerDep, state: StateDep) -> Response:
    _require_manager(who, "Deleting keys")
    digest, record = _find(state, who, key_hash)
    await state.keys.delete(digest)
    await state.audit.record(
        record.account_id, who, "key.delete", record.id, before=key_settings(record)
    )
    # OpenRouter's answer is `deleted` at the top level; veil's older clients read `data`.
    return json_response({"deleted": True, "data": {"id": record.id, "hash": record.id,
                                                    "deleted": True}})  # fmt: skip


@router.get("/credits")
async def credits(who: CallerDep, state: StateDep, account_id: str | None = None) -> Response:
    _require_manager(who, "Reading credits")
    account = await state.account_for(who, account_id)
    query = CreditsQuery(account_id=account)
    result = await ask_metrics(state.broker, query, subjects.QUERY_CREDITS, CreditsResult)
    # Self-hosted veil sells no credits: none were bought, so total_credits is 0 (the
    # SDK types it as a number). total_usage is the account's recorded spend, all keys.
    return data({"total_credits": 0.0, "total_usage": result.total_usage})
