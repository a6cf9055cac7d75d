"""The console's guardrails page: list an account's guardrails, create, edit and delete
them, assign them to keys, make one the account's default, and preview what a guardrail
would exclude before it is saved, all through veil's guardrail API as the signed-in key.

The preview asks `GET /models/user` and `POST /routing/explain` twice, as the signed-in
key reaches them now and with `?guardrail=` (the form's rules, stored nowhere): the policy
service answers with the function that routes real requests.
"""

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from veil.gateway.console import views
from veil.gateway.console.pages import SessionDep, choose_account, first, page
from veil.gateway.console.session import PREFIX, ConsoleRoute, Session, form_fields, redirect
from veil.schemas.errors import VeilError

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PAGE = f"{PREFIX}/guardrails"
PAGE_SIZE = 100  # the most the guardrail API lists at once

# What a post-redirect-get landed on says (a fixed word in the URL, never a message).
DONE = {
    "created": "Created. Assign it to keys below, or make it the account default.",
    "saved": "Saved. The next request of every key it holds for is routed under it.",
    "keys": "Assignments saved. They hold from the next request of those keys.",
    "default": "It is now the account default: it holds for every key of the account.",
    "cleared": "The account has no default guardrail now.",
    "deleted": "Deleted. The keys it held for are routed without it from the next request.",
}


async def _paged(session: Session, path: str) -> list[dict[str, Any]]:
    """Every row of a paged guardrail listing (`offset`, `limit`, `total_count`)."""
    rows: list[dict[str, Any]] = []
    while True:
        answer = await session.api.get(path, offset=len(rows), limit=PAGE_SIZE)
        rows.extend(answer["data"])
        if not answer["data"] or len(rows) >= answer["total_count"]:
            return rows


async def _keys(session: Session) -> list[dict[str, Any]]:
    return await session.api.data("/keys", include_disabled="true", include_expired="true")


async def _provider_names(session: Session) -> dict[str, str]:
    return {p["slug"]: p["name"] for p in await session.api.data("/providers")}


async def _default_id(session: Session) -> str | None:
    return (await session.api.data("/privacy")).get("default_guardrail_id")


async def _assigned(session: Session, guardrail_id: str) -> list[str]:
    rows = await _paged(session, f"/guardrails/{guardrail_id}/assignments/keys")
    return [row["key_hash"] for row in rows]


def _message(exc: VeilError) -> str:
    """An API refusal as the page shows it (a server error is an error page instead)."""
    if exc.code >= 500:
        raise exc
    return exc.message


# the list, and creating one -------------------------------------------------


async def _list_page(
    session: Session,
    done: str | None = None,
    error: str | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    guardrails, keys, names, default_id = await asyncio.gather(
        _paged(session, "/guardrails"), _keys(session), _provider_names(session),
        _default_id(session),
    )  # fmt: skip
    assigned = await asyncio.gather(*(_assigned(session, g["id"]) for g in guardrails))
    rows = [
        views.guardrail_row(g, ids, keys, default_id, names)
        for g, ids in zip(guardrails, assigned, strict=True)
    ]
    response = page(
        "guardrails.html", session, section="guardrails", rows=rows, providers=names,
        values=values or views.guardrail_form_values(None), lists=views.GUARDRAIL_LISTS,
        switches=views.GUARDRAIL_SWITCHES, intervals=views.INTERVALS,
        notice=DONE.get(done or ""), error=error,
    )  # fmt: skip
    response.status_code = status
    return response


@router.get(PAGE)
async def guardrails_page(session: SessionDep, done: str | None = None) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    return await _list_page(session, done=done)


@router.get(f"{PAGE}/preview")
async def guardrail_preview(request: Request, session: SessionDep) -> Response:
    """What the form's rules would exclude, as an HTML fragment the page swaps in."""
    if (chosen := choose_account(session)) is not None:
        return chosen
    form: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        form.setdefault(name, []).append(value)
    rules = views.guardrail_preview_rules(form)
    budget = bool(first(form, "limit_usd").strip())
    if not rules:
        return page("guardrail_preview.html", session, preview=None, rules=rules, budget=budget)
    models, names = await asyncio.gather(session.api.data("/models"), _provider_names(session))
    model_ids = views.chat_model_ids(models)  # /routing/explain reads chat requests
    try:
        now, proposed, models_now, models_proposed = await asyncio.gather(
            _explain(session, model_ids, None),
            _explain(session, model_ids, rules),
            _reachable(session, None),
            _reachable(session, rules),
        )
    except VeilError as exc:  # a rule the API refuses (an unknown provider, say)
        return page("guardrail_preview.html", session, preview=None, error=_message(exc))
    result = views.preview(now, proposed, models_now, models_proposed, names)
    return page(
        "guardrail_preview.html", session, preview=result, groups=views.by_reason(result.excluded),
        rules=rules, budget=budget,
    )  # fmt: skip


async def _explain(
    session: Session, model_ids: list[str], rules: dict[str, Any] | None
) -> dict[str, Any]:
    params = {"guardrail": json.dumps(rules)} if rules is not None else None
    answer = await session.api.call(
        "POST", "/routing/explain", params, views.every_model_request(model_ids)
    )
    return answer["data"]


async def _reachable(session: Session, rules: dict[str, Any] | None) -> list[str]:
    params = {"guardrail": json.dumps(rules)} if rules is not None else None
    answer = await session.api.call("GET", "/models/user", params)
    return [m["id"] for m in answer["data"]]


@router.post(PAGE)
async def create_guardrail(request: Request, session: SessionDep) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    form = await form_fields(request)
    try:
        created = await session.api.call("POST", "/guardrails", json=views.guardrail_body(form))
    except VeilError as exc:
        return await _list_page(
            session, error=_message(exc), values=views.submitted_form_values(form),
            status=exc.code,
        )  # fmt: skip
    return redirect(f"{PAGE}/{created['data']['id']}?done=created")


# one guardrail: edit, assign, default, delete -------------------------------


async def _detail_page(
    session: Session,
    guardrail_id: str,
    done: str | None = None,
    error: str | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    guardrail = await session.api.data(f"/guardrails/{guardrail_id}")
    assigned, keys, names, default_id = await asyncio.gather(
        _assigned(session, guardrail_id), _keys(session), _provider_names(session),
        _default_id(session),
    )  # fmt: skip
    row = views.guardrail_row(guardrail, assigned, keys, default_id, names)
    # The preview compares with what the signed-in key reaches now: if this guardrail
    # already holds for it, its saved rules are in both sides of the comparison.
    holds_for_me = row.is_default or (session.key_id is not None and session.key_id in assigned)
    response = page(
        "guardrail.html", session, section="guardrails", guardrail=guardrail, row=row,
        keys=keys, assigned=set(assigned), providers=names,
        values=values or views.guardrail_form_values(guardrail), lists=views.GUARDRAIL_LISTS,
        switches=views.GUARDRAIL_SWITCHES, intervals=views.INTERVALS,
        holds_for_me=holds_for_me, notice=DONE.get(done or ""), error=error,
    )  # fmt: skip
    response.status_code = status
    return response


@router.get(f"{PAGE}/{{guardrail_id}}")
async def guardrail_page(
    guardrail_id: str, session: SessionDep, done: str | None = None
) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    return await _detail_page(session, guardrail_id, done=done)


async def _change(session: Session, guardrail_id: str, form: dict[str, list[str]]) -> str:
    """Does what the form asks; answers where to land (a `DONE` word, or "deleted")."""
    action = first(form, "action")
    path = f"/guardrails/{guardrail_id}"
    if action == "update":
        await session.api.call("PATCH", path, json=views.guardrail_body(form))
        return "saved"
    if action == "keys":
        assigned = await _assigned(session, guardrail_id)
        add, remove = views.assignment_changes(assigned, form.get("key", []))
        if add:
            await session.api.call("POST", f"{path}/assignments/keys", json={"key_hashes": add})
        if remove:
            await session.api.call(
                "POST", f"{path}/assignments/keys/remove", json={"key_hashes": remove}
            )
        return "keys"
    if action in ("default", "clear-default"):
        chosen = guardrail_id if action == "default" else None
        await session.api.call("PATCH", "/privacy", json={"default_guardrail_id": chosen})
        return "default" if chosen else "cleared"
    if action == "delete":
        await session.api.call("DELETE", path)
        return "deleted"
    raise VeilError(400, f"Unknown guardrail action: {action!r}")


@router.post(f"{PAGE}/{{guardrail_id}}")
async def change_guardrail(guardrail_id: str, request: Request, session: SessionDep) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    form = await form_fields(request)
    try:
        done = await _change(session, guardrail_id, form)
    except VeilError as exc:
        if exc.code == 404 and first(form, "action") != "keys":
            raise  # the guardrail itself is gone: an error page says so
        values = views.submitted_form_values(form) if first(form, "action") == "update" else None
        return await _detail_page(
            session, guardrail_id, error=_message(exc), values=values, status=exc.code
        )
    if done == "deleted":
        return redirect(f"{PAGE}?done=deleted")
    return redirect(f"{PAGE}/{guardrail_id}?done={done}")
