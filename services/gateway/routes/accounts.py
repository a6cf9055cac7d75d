"""Accounts, keys and privacy settings (SPEC 4.2)."""

import time

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from veil.gateway.privacy import apply_privacy_patch
from veil.gateway.responses import data, json_response
from veil.gateway.state import CallerDep, GatewayState, StateDep
from veil.keys import hash_key, key_label, new_id, new_key
from veil.schemas.accounts import Account, KeyKind, KeyRecord, PrivacySettings
from veil.schemas.errors import VeilError

router = APIRouter()


class NewAccount(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class NewKey(BaseModel):
    account_id: str | None = None
    name: str = Field(default="default", max_length=200)
    kind: KeyKind = "inference"


def _key_view(record: KeyRecord) -> dict:
    return record.model_dump()


@router.post("/accounts")
async def create_account(body: NewAccount, who: CallerDep, state: StateDep) -> Response:
    if who.kind != "admin":
        raise VeilError(403, "Only the admin key can create accounts")
    account = Account(id=new_id("acct"), name=body.name, created_at=time.time())
    await state.accounts.put(account.id, account)
    return data({"id": account.id, "name": account.name}, 201)


@router.post("/keys")
async def create_key(body: NewKey, who: CallerDep, state: StateDep) -> Response:
    if not who.can_manage:
        raise VeilError(403, "Creating keys needs a management key or the admin key")
    account_id = who.account_for(body.account_id)
    if state.accounts.get(account_id) is None and await state.accounts.refresh(account_id) is None:
        raise VeilError(404, f"Account not found: {account_id}")
    raw = new_key()
    record = KeyRecord(
        id=new_id("key"),
        account_id=account_id,
        name=body.name,
        kind=body.kind,
        created_at=time.time(),
        label=key_label(raw),
    )
    await state.keys.put(hash_key(raw), record)
    # The raw key is in this response and nowhere else, ever (invariant 7).
    return json_response({"key": raw, "data": _key_view(record)}, 201)


def _account_keys(state: GatewayState, account_id: str) -> list[tuple[str, KeyRecord]]:
    return [(h, r) for h, r in state.keys.values.items() if r.account_id == account_id]


@router.get("/keys")
async def list_keys(
    who: CallerDep,
    state: StateDep,
    account_id: str | None = None,
) -> Response:
    if not who.can_manage:
        raise VeilError(403, "Listing keys needs a management key or the admin key")
    account = who.account_for(account_id)
    records = sorted((r for _, r in _account_keys(state, account)), key=lambda r: r.created_at)
    return data([_key_view(r) for r in records])


@router.delete("/keys/{key_id}")
async def delete_key(key_id: str, who: CallerDep, state: StateDep) -> Response:
    if not who.can_manage:
        raise VeilError(403, "Deleting keys needs a management key or the admin key")
    matches = [(h, r) for h, r in state.keys.values.items() if r.id == key_id]
    if not matches or (who.kind != "admin" and matches[0][1].account_id != who.account_id):
        raise VeilError(404, f"Key not found: {key_id}")
    digest, record = matches[0]
    await state.keys.delete(digest)
    return data({"id": record.id, "deleted": True})


@router.get("/privacy")
async def get_privacy(
    who: CallerDep,
    state: StateDep,
    account_id: str | None = None,
) -> Response:
    account = who.account_for(account_id)
    settings = await state.privacy.refresh(account) or PrivacySettings()
    return data(settings.model_dump())


@router.patch("/privacy")
async def patch_privacy(
    who: CallerDep,
    state: StateDep,
    body: dict,
    account_id: str | None = None,
) -> Response:
    account = who.account_for(account_id)
    current = await state.privacy.refresh(account) or PrivacySettings()
    updated = apply_privacy_patch(current, body, who, state.index)
    await state.privacy.put(account, updated)
    return data(updated.model_dump())
