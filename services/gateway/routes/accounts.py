"""Accounts and their privacy settings (keys are in routes/keys.py)."""

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from veil.bus import publish_durably
from veil.gateway.audit import changed
from veil.gateway.auth import AdminCaller
from veil.gateway.privacy import apply_privacy_patch, parse_privacy_patch
from veil.gateway.state import CallerDep, GatewayState, StateDep
from veil.gateway.views.responses import data
from veil.keys import new_id
from veil.schemas import subjects
from veil.schemas.accounts import Account, PrivacySettings
from veil.schemas.content import ContentErasure
from veil.schemas.errors import VeilError

router = APIRouter()


class NewAccount(BaseModel):
    name: str = Field(min_length=1, max_length=200)


@router.post("/accounts")
async def create_account(body: NewAccount, who: CallerDep, state: StateDep) -> Response:
    if not isinstance(who, AdminCaller):
        raise VeilError(403, "Only the admin key can create accounts")
    account = Account(id=new_id("acct"), name=body.name, created_at=time.time())
    await state.accounts.put(account.id, account)
    await state.audit.record(account.id, who, "account.create", after={"name": account.name})
    return data({"id": account.id, "name": account.name}, 201)


@router.get("/accounts")
async def list_accounts(who: CallerDep, state: StateDep) -> Response:
    """The admin key sees every account; an account's key only its own."""
    if isinstance(who, AdminCaller):
        accounts = sorted(state.accounts.values.values(), key=lambda a: a.created_at)
    else:
        own = state.accounts.get(who.account_id)
        accounts = [own] if own is not None else []
    return data([{"id": a.id, "name": a.name, "created_at": a.created_at} for a in accounts])


@router.get("/privacy")
async def get_privacy(
    who: CallerDep,
    state: StateDep,
    account_id: str | None = None,
) -> Response:
    account = await state.account_for(who, account_id)
    settings = await state.privacy.refresh(account) or PrivacySettings()
    return data(settings.model_dump())


# The body is parsed here, not by FastAPI, so that an unknown setting is a 400 naming it
# in words (`Unknown privacy setting(s): ...`); openapi.py documents the body as
# `PrivacySettingsPatch`.
@router.patch("/privacy")
async def patch_privacy(
    request: Request,
    who: CallerDep,
    state: StateDep,
    account_id: str | None = None,
) -> Response:
    account = await state.account_for(who, account_id)
    patch = parse_privacy_patch(await request.body())
    current = await state.privacy.refresh(account) or PrivacySettings()
    updated = apply_privacy_patch(current, patch, who, state.index)
    default = updated.default_guardrail_id
    if default is not None and default != current.default_guardrail_id:
        found = state.guardrails.get(default) or await state.guardrails.refresh(default)
        if found is None or found.account_id != account:
            raise VeilError(404, f"default_guardrail_id: guardrail not found: {default}")
    revision = await state.privacy.put(account, updated)
    # Answered once every gateway and policy replica has applied the change: the next
    # request applies it whichever gateway and policy it reaches (a few ms, on PATCH
    # only: no request pays for it).
    await state.privacy.applied_everywhere(revision)
    before, after = changed(current, updated)
    if after:
        await state.audit.record(account, who, "privacy.update", before=before, after=after)
    if "enable_prompt_logging" in after:
        action = "prompt_logging." + ("enable" if updated.enable_prompt_logging else "disable")
        await state.audit.record(account, who, action)
    if current.enable_prompt_logging and not updated.enable_prompt_logging:
        await erase_prompt_log(state, account)
        await state.audit.record(
            account, who, "prompt_log.erase", after={"data_key": "destroyed", "rows": "all"}
        )
    return data(updated.model_dump())


async def erase_prompt_log(state: GatewayState, account: str) -> None:
    """Turning prompt logging off erases the account's log: its data key is destroyed
    now (every copy of every record becomes unreadable at once), and the rows are
    deleted by metrics, durably, even if it is down this instant."""
    await state.keyring.destroy(account)
    erasure = ContentErasure(account_id=account, requested_at=time.time())
    queued = await publish_durably(
        state.broker.connection,
        subjects.ERASE,
        erasure,
        f"erase-{account}-{time.time_ns()}",
        give_up_after=5,
    )
    if not queued:
        raise VeilError(
            503,
            "The log's key is destroyed, but its rows could not be queued for deletion "
            "yet; turn logging off again to retry",
        )
