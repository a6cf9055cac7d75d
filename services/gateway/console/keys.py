"""The console's keys page: create (the secret shown once), rename, limit, disable,
enable and delete an account's keys, through veil's key API as the signed-in key."""

import base64
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from veil.gateway.console.pages import SessionDep, choose_account, first, page
from veil.gateway.console.session import PREFIX, ConsoleRoute, Session, form_fields, redirect
from veil.schemas.errors import VeilError

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


async def _keys_page(session: Session, created: dict | None = None, status: int = 200):
    keys = await session.api.data("/keys", include_disabled="true", include_expired="true")
    response = page("keys.html", session, section="keys", keys=keys, created=created)
    response.status_code = status
    return response


# A new key's secret travels from the POST that made it to the page that shows it in a
# short-lived cookie (HttpOnly, SameSite=Strict, this path only), which that page clears:
# post, redirect, get, so reloading the page shows the list and never makes a second key.
NEW_KEY_COOKIE = "veil_console_new_key"
NEW_KEY_SECONDS = 60


@router.get(f"{PREFIX}/keys")
async def keys_page(request: Request, session: SessionDep) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    created = None
    if flash := request.cookies.get(NEW_KEY_COOKIE):
        try:
            created = json.loads(base64.urlsafe_b64decode(flash))
        except ValueError:
            created = None
    response = await _keys_page(session, created=created)
    if flash:
        response.delete_cookie(NEW_KEY_COOKIE, path=f"{PREFIX}/keys")
    return response


def _limit(form: dict[str, list[str]]) -> dict[str, Any]:
    raw = first(form, "limit").strip()
    reset = first(form, "limit_reset") or None
    try:
        limit = float(raw) if raw else None
    except ValueError:
        raise VeilError(400, f"limit: not a number of USD: {raw!r}") from None
    return {"limit": limit, "limit_reset": reset if limit is not None else None}


@router.post(f"{PREFIX}/keys")
async def create_key(request: Request, session: SessionDep) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    form = await form_fields(request)
    body = {
        "name": first(form, "name").strip() or "default",
        "kind": first(form, "kind", "inference"),
        **_limit(form),
    }
    created = await session.api.call("POST", "/keys", json=body)
    shown = {"key": created["key"], "data": {"name": created["data"]["name"]}}
    response = redirect(f"{PREFIX}/keys")
    response.set_cookie(
        NEW_KEY_COOKIE,
        base64.urlsafe_b64encode(json.dumps(shown).encode()).decode(),
        max_age=NEW_KEY_SECONDS,
        path=f"{PREFIX}/keys",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post(f"{PREFIX}/keys/{{key_hash}}")
async def change_key(key_hash: str, request: Request, session: SessionDep) -> Response:
    form = await form_fields(request)
    action = first(form, "action")
    path = f"/keys/{key_hash}"
    if action == "delete":
        await session.api.call("DELETE", path, for_account=False)
    elif action in ("disable", "enable"):
        await session.api.call("PATCH", path, json={"disabled": action == "disable"},
                               for_account=False)  # fmt: skip
    elif action == "update":
        body = {"name": first(form, "name").strip() or "default", **_limit(form)}
        await session.api.call("PATCH", path, json=body, for_account=False)
    else:
        raise VeilError(400, f"Unknown key action: {action!r}")
    return redirect(f"{PREFIX}/keys")
