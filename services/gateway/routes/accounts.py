"""Accounts and their privacy settings (keys are in routes/keys.py)."""

import time

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from veil.gateway.privacy import apply_privacy_patch
from veil.gateway.responses import data
from veil.gateway.state import CallerDep, StateDep
from veil.keys import new_id
from veil.schemas.accounts import Account, PrivacySettings
from veil.schemas.errors import VeilError

router = APIRouter()


class NewAccount(BaseModel):
    name: str = Field(min_length=1, max_length=200)


@router.post("/accounts")
async def create_account(body: NewAccount, who: CallerDep, state: StateDep) -> Response:
    if who.kind != "admin":
        raise VeilError(403, "Only the admin key can create accounts")
    account = Account(id=new_id("acct"), name=body.name, created_at=time.time())
    await state.accounts.put(account.id, account)
    return data({"id": account.id, "name": account.name}, 201)


@router.get("/privacy")
async def get_privacy(
    who: CallerDep,
    state: StateDep,
    account_id: str | None = None,
) -> Response:
    account = await state.account_for(who, account_id)
    settings = await state.privacy.refresh(account) or PrivacySettings()
    return data(settings.model_dump())


@router.patch("/privacy")
async def patch_privacy(
    who: CallerDep,
    state: StateDep,
    body: dict,
    account_id: str | None = None,
) -> Response:
    account = await state.account_for(who, account_id)
    current = await state.privacy.refresh(account) or PrivacySettings()
    updated = apply_privacy_patch(current, body, who, state.index)
    await state.privacy.put(account, updated)
    return data(updated.model_dump())
