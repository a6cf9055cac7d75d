"""Guardrails, in OpenRouter's shapes: /guardrails[/{id}] and their key assignments.

Managed with an account's management key (its own guardrails), or the admin key naming
the account with `?account_id=`. A write is answered once every gateway and policy
replica has applied it, so it holds from the next request on, whichever replica takes it.
"""

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from nats.js.errors import KeyWrongLastSequenceError
from pydantic import ValidationError

from veil.gateway.audit import changed, guardrail_rules
from veil.gateway.auth import AdminCaller, Caller, require_id
from veil.gateway.errors import json_object, validation_message
from veil.gateway.guardrail_rules import checked_rules, guardrail_body, parsed_rules
from veil.gateway.state import CallerDep, GatewayState, StateDep
from veil.gateway.views.guardrails import assignment_view, guardrail_view
from veil.gateway.views.responses import data, json_response
from veil.keys import new_id
from veil.schemas.accounts import PrivacySettings
from veil.schemas.errors import VeilError
from veil.schemas.guardrails import Guardrail, GuardrailPatch, GuardrailRules, KeyHashes

router = APIRouter()


async def _account(who: Caller, state: GatewayState, account_id: str | None) -> str:
    if who.kind == "inference":
        raise VeilError(403, "Guardrails are managed with a management key, not an inference key")
    return await state.account_for(who, account_id)


def _actor(who: Caller) -> str:
    return "admin" if isinstance(who, AdminCaller) else who.key_id


async def _owned(state: GatewayState, account: str, guardrail_id: str) -> Guardrail:
    require_id("guardrail", "gr", guardrail_id)
    guardrail = state.guardrails.get(guardrail_id) or await state.guardrails.refresh(guardrail_id)
    if guardrail is None or guardrail.account_id != account:
        raise VeilError(404, f"Guardrail not found: {guardrail_id}")
    return guardrail


async def _save(state: GatewayState, guardrail: Guardrail, last: int) -> None:
    """Write it if nobody changed it since it was read (409 otherwise), and answer once
    every replica applied it."""
    try:
        revision = await state.guardrails.update(guardrail.id, guardrail, last)
    except KeyWrongLastSequenceError:
        raise VeilError(409, "The guardrail changed meanwhile; read it again and retry") from None
    await state.guardrails.applied_everywhere(revision)


@router.post("/guardrails")
async def create_guardrail(
    request: Request, who: CallerDep, state: StateDep, account_id: str | None = None
) -> Response:
    account = await _account(who, state, account_id)
    rules = parsed_rules(guardrail_body(await request.body(), account), GuardrailRules)
    stored = checked_rules(rules.model_dump(), state.index)
    guardrail = Guardrail(**stored, id=new_id("gr"), account_id=account, created_at=time.time())
    await _save(state, guardrail, 0)
    await state.audit.record(
        account, who, "guardrail.create", guardrail.id, after=guardrail_rules(guardrail)
    )
    return data(guardrail_view(guardrail), 201)


@router.get("/guardrails")
async def list_guardrails(
    who: CallerDep,
    state: StateDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    account_id: str | None = None,
) -> Response:
    account = await _account(who, state, account_id)
    mine = sorted(
        (g for g in state.guardrails.values.values() if g.account_id == account),
        key=lambda g: (g.created_at, g.id),
    )
    page = mine[offset : offset + limit]
    return json_response({"data": [guardrail_view(g) for g in page], "total_count": len(mine)})


@router.get("/guardrails/{guardrail_id}")
async def get_guardrail(
    guardrail_id: str, who: CallerDep, state: StateDep, account_id: str | None = None
) -> Response:
    account = await _account(who, state, account_id)
    return data(guardrail_view(await _owned(state, account, guardrail_id)))


@router.patch("/guardrails/{guardrail_id}")
async def update_guardrail(
    guardrail_id: str,
    request: Request,
    who: CallerDep,
    state: StateDep,
    account_id: str | None = None,
) -> Response:
    account = await _account(who, state, account_id)
    current = await _owned(state, account, guardrail_id)
    last = state.guardrails.revisions.get(guardrail_id, 0)
    patch = parsed_rules(guardrail_body(await request.body(), account), GuardrailPatch)
    assert isinstance(patch, GuardrailPatch)
    changes = checked_rules(patch.changes(), state.index)
    merged = {**current.model_dump(), **changes, "updated_at": time.time()}
    try:
        updated = Guardrail.model_validate(merged)
    except ValidationError as exc:
        raise VeilError(400, f"Invalid guardrail: {validation_message(exc)}") from exc
    await _save(state, updated, last)
    before, after = changed(guardrail_rules(current), guardrail_rules(updated))
    if after:
        await state.audit.record(account, who, "guardrail.update", guardrail_id, before, after)
    return data(guardrail_view(updated))


@router.delete("/guardrails/{guardrail_id}")
async def delete_guardrail(
    guardrail_id: str, who: CallerDep, state: StateDep, account_id: str | None = None
) -> Response:
    account = await _account(who, state, account_id)
    current = await _owned(state, account, guardrail_id)
    settings = await state.privacy.refresh(account) or PrivacySettings()
    if settings.default_guardrail_id == guardrail_id:
        # The account's default goes with it (a default naming nothing would be a rule
        # nobody can see).
        cleared = settings.model_copy(update={"default_guardrail_id": None})
        await state.privacy.applied_everywhere(await state.privacy.put(account, cleared))
        before, after = changed(settings, cleared)
        await state.audit.record(account, who, "privacy.update", before=before, after=after)
    await state.guardrails.applied_everywhere(await state.guardrails.delete(guardrail_id))
    await state.audit.record(
        account, who, "guardrail.delete", guardrail_id, before=guardrail_rules(current)
    )
    return json_response({"deleted": True})


@router.get("/guardrails/{guardrail_id}/assignments/keys")
async def list_key_assignments(
    guardrail_id: str,
    who: CallerDep,
    state: StateDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    account_id: str | None = None,
) -> Response:
    account = await _account(who, state, account_id)
    guardrail = await _owned(state, account, guardrail_id)
    records = {r.id: r for r in state.keys.values.values() if r.account_id == account}
    assigned = [records[k] for k in guardrail.key_hashes if k in records]
    page = assigned[offset : offset + limit]
    views = [assignment_view(guardrail, key) for key in page]
    return json_response({"data": views, "total_count": len(assigned)})


async def _key_ids(state: GatewayState, account: str, request: Request) -> list[str]:
    """The body's key ids, each a key of this account (404 naming those that are not)."""
    try:
        body = KeyHashes.model_validate(json_object(await request.body()))
    except ValidationError as exc:
        raise VeilError(400, f"Invalid request: {validation_message(exc)}") from exc
    for key_id in body.key_hashes:
        require_id("key", "key", key_id)
    mine = {r.id for r in state.keys.values.values() if r.account_id == account}
    unknown = [k for k in body.key_hashes if k not in mine]
    if unknown:
        raise VeilError(404, f"Key(s) not found: {', '.join(unknown)}", {"key_hashes": unknown})
    return list(dict.fromkeys(body.key_hashes))


@router.post("/guardrails/{guardrail_id}/assignments/keys")
async def assign_keys(
    guardrail_id: str,
    request: Request,
    who: CallerDep,
    state: StateDep,
    account_id: str | None = None,
) -> Response:
    account = await _account(who, state, account_id)
    current = await _owned(state, account, guardrail_id)
    last = state.guardrails.revisions.get(guardrail_id, 0)
    added = [k for k in await _key_ids(state, account, request) if k not in current.key_hashes]
    now = time.time()
    updated = current.model_copy(
        update={
            "key_hashes": [*current.key_hashes, *added],
            "assigned_at": {**current.assigned_at, **dict.fromkeys(added, now)},
            "assigned_by": {**current.assigned_by, **dict.fromkeys(added, _actor(who))},
            "updated_at": now,
        }
    )
    await _save(state, updated, last)
    if added:
        await state.audit.record(
            account, who, "guardrail.assign", guardrail_id, after={"key_hashes": added}
        )
    return json_response({"assigned_count": len(added)})


@router.post("/guardrails/{guardrail_id}/assignments/keys/remove")
async def unassign_keys(
    guardrail_id: str,
    request: Request,
    who: CallerDep,
    state: StateDep,
    account_id: str | None = None,
) -> Response:
    account = await _account(who, state, account_id)
    current = await _owned(state, account, guardrail_id)
    last = state.guardrails.revisions.get(guardrail_id, 0)
    removed = set(await _key_ids(state, account, request)) & set(current.key_hashes)
    updated = current.model_copy(
        update={
            "key_hashes": [k for k in current.key_hashes if k not in removed],
            "assigned_at": {k: v for k, v in current.assigned_at.items() if k not in removed},
            "assigned_by": {k: v for k, v in current.assigned_by.items() if k not in removed},
            "updated_at": time.time(),
        }
    )
    await _save(state, updated, last)
    if removed:
        await state.audit.record(
            account, who, "guardrail.unassign", guardrail_id, before={"key_hashes": sorted(removed)}
        )
    return json_response({"unassigned_count": len(removed)})
