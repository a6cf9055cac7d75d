"""The console's pages: each reads and writes through veil's HTTP API as the signed-in
key (`Session.api`), renders a template, and posts forms back here."""

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from veil.gateway.console import charts, compliance, guardrails, keys, views
from veil.gateway.console.pages import SessionDep, choose_account, first, page
from veil.gateway.console.session import (
    ACCOUNT_COOKIE,
    KEY_COOKIE,
    PREFIX,
    ConsoleRoute,
    Session,
    SignInRequired,
    form_fields,
    identify,
    redirect,
    render,
    set_cookie,
)
from veil.schemas.categories import CATEGORIES
from veil.schemas.errors import VeilError

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

STATIC = {path.name: path.read_bytes() for path in (Path(__file__).parent / "static").iterdir()}
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}

PLAYGROUND_EXAMPLE = {
    "model": "meta-llama/llama-3.1-8b-instruct",
    "messages": [{"role": "user", "content": "Hello"}],
    "provider": {"data_collection": "deny", "sort": "price"},
}


@router.get("/")
async def root() -> Response:
    return redirect(f"{PREFIX}/")


@router.get(PREFIX)
@router.get(f"{PREFIX}/")
async def home() -> Response:
    return redirect(f"{PREFIX}/privacy")


@router.get(f"{PREFIX}/static/{{name}}")
async def static(name: str) -> Response:
    content = STATIC.get(name)
    if content is None:
        raise VeilError(404, f"No such console file: {name}")
    media_type = STATIC_TYPES.get(Path(name).suffix, "application/octet-stream")
    # Assets change only with veil's version: a short cache keeps pages fast.
    return Response(content, media_type=media_type, headers={"Cache-Control": "max-age=300"})


# sign-in -------------------------------------------------------------------


@router.get(f"{PREFIX}/sign-in")
async def sign_in_page() -> Response:
    return page("sign_in.html", None, section="sign-in", error=None)


@router.post(f"{PREFIX}/sign-in")
async def sign_in(request: Request) -> Response:
    key = first(await form_fields(request), "key").strip()
    try:
        if not key:
            raise SignInRequired("Paste a key")
        session = await identify(request, key, None)
    except (SignInRequired, VeilError) as exc:
        message = str(exc) or "This key is not valid"
        if isinstance(exc, VeilError):
            message = exc.message
        return render("sign_in.html", 401, session=None, section="sign-in", error=message)
    response = redirect(f"{PREFIX}/privacy")
    set_cookie(request, response, KEY_COOKIE, key)
    if session.kind == "admin":
        response.delete_cookie(ACCOUNT_COOKIE, path=PREFIX)
    return response


@router.post(f"{PREFIX}/sign-out")
async def sign_out() -> Response:
    response = redirect(f"{PREFIX}/sign-in")
    response.delete_cookie(KEY_COOKIE, path=PREFIX)
    response.delete_cookie(ACCOUNT_COOKIE, path=PREFIX)
    return response


@router.post(f"{PREFIX}/account")
async def switch_account(request: Request, session: SessionDep) -> Response:
    """The admin key switches the account its pages show (an account key has one)."""
    chosen = first(await form_fields(request), "account_id")
    if session.kind != "admin" or chosen not in {a["id"] for a in session.accounts}:
        raise VeilError(403, "Only the admin key switches accounts, to one that exists")
    response = redirect(f"{PREFIX}/privacy")
    set_cookie(request, response, ACCOUNT_COOKIE, chosen)
    return response


@router.post(f"{PREFIX}/accounts")
async def create_account(request: Request, session: SessionDep) -> Response:
    """The admin key creates an account (POST /accounts) and switches to it."""
    name = first(await form_fields(request), "name").strip()
    created = await session.api.call("POST", "/accounts", json={"name": name}, for_account=False)
    response = redirect(f"{PREFIX}/keys")
    set_cookie(request, response, ACCOUNT_COOKIE, created["data"]["id"])
    return response


# privacy -------------------------------------------------------------------


async def _catalog(session: Session) -> tuple[list[str], list[dict[str, Any]]]:
    models, providers = await asyncio.gather(
        session.api.data("/models"), session.api.data("/providers")
    )
    return views.chat_model_ids(models), providers


def _names(providers: list[dict[str, Any]]) -> dict[str, str]:
    return {p["slug"]: p["name"] for p in providers}


def _regions(session: Session) -> dict[str, tuple[str, ...]]:
    """The catalog's named data regions (name: its countries). The HTTP API takes a
    region's name (PATCH /privacy, `?region=`) but lists none, so the select is filled
    from the catalog the API checks names against: the gateway's loaded one."""
    return dict(session.api.app.state.veil.index.catalog.regions)


async def _explain(
    session: Session, model_ids: list[str], patch: dict[str, Any] | None
) -> dict[str, Any]:
    params = {"privacy": json.dumps(patch)} if patch is not None else None
    answer = await session.api.call(
        "POST", "/routing/explain", params, views.every_model_request(model_ids)
    )
    return answer["data"]


async def _reachable(session: Session, patch: dict[str, Any] | None) -> list[str]:
    params = {"privacy": json.dumps(patch)} if patch is not None else None
    answer = await session.api.call("GET", "/models/user", params)
    return [m["id"] for m in answer["data"]]


def _privacy_form(
    session: Session,
    settings: dict[str, Any],
    saved: bool = False,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        "privacy.html",
        status,
        session=session,
        section="privacy",
        settings=settings,
        switches=views.SETTINGS,
        lists=views.LIST_SETTINGS,
        regions=views.region_options(_regions(session), settings.get("data_region")),
        saved=saved,
        error=error,
    )


@router.get(f"{PREFIX}/privacy")
async def privacy_page(session: SessionDep, saved: bool = False) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    return _privacy_form(session, await session.api.data("/privacy"), saved=saved)


@router.get(f"{PREFIX}/privacy/preview")
async def privacy_preview(request: Request, session: SessionDep) -> Response:
    """What the form's settings would change, as an HTML fragment the page swaps in."""
    if (chosen := choose_account(session)) is not None:
        return chosen
    form: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        form.setdefault(name, []).append(value)
    patch = views.settings_patch(form)
    model_ids, providers = await _catalog(session)
    current, now, proposed, models_now, models_proposed = await asyncio.gather(
        session.api.data("/privacy"),
        _explain(session, model_ids, None),
        _explain(session, model_ids, patch),
        _reachable(session, None),
        _reachable(session, patch),
    )
    result = views.preview(now, proposed, models_now, models_proposed, _names(providers))
    saved_region = current.get("data_region")
    region = views.region_effect(
        now, proposed, saved_region, patch.get("data_region", saved_region), providers
    )
    return page("preview.html", session, preview=result, region=region)


@router.post(f"{PREFIX}/privacy")
async def privacy_save(request: Request, session: SessionDep) -> Response:
    """Saves the form (PATCH /privacy); a refusal (an unknown provider or region, or a
    loosening the key may not make: 403) is shown on the form, what was chosen kept."""
    if (chosen := choose_account(session)) is not None:
        return chosen
    patch = views.settings_patch(await form_fields(request))
    try:
        await session.api.call("PATCH", "/privacy", json=patch)
    except VeilError as exc:
        if exc.code >= 500 or exc.code == 401:
            raise
        current = await session.api.data("/privacy")
        return _privacy_form(session, {**current, **patch}, error=exc.message, status=exc.code)
    return redirect(f"{PREFIX}/privacy?saved=true")


# providers -----------------------------------------------------------------


@router.get(f"{PREFIX}/providers")
async def providers_page(
    session: SessionDep, q: str = "", show: str = "all", region: str = ""
) -> Response:
    """`region`: only providers with an endpoint that region admits, as policy answers
    under the account's settings with that region (`?privacy=`)."""
    if (chosen := choose_account(session)) is not None:
        return chosen
    regions = _regions(session)
    if region not in regions:
        region = ""
    model_ids, providers = await _catalog(session)
    asks = [_explain(session, model_ids, None)]
    if region:
        asks.append(_explain(session, model_ids, {"data_region": region}))
    explained, *under_region = await asyncio.gather(*asks)
    in_region = under_region[0] if under_region else None
    rows = views.provider_rows(providers, explained, q, show, in_region)
    return page(
        "providers.html", session, section="providers", rows=rows, q=q, show=show,
        total=len(providers), region=region, region_name=views.region_name(region),
        regions=views.region_options(regions, countries=False),
    )  # fmt: skip


# activity ------------------------------------------------------------------


@router.get(f"{PREFIX}/activity")
async def activity_page(session: SessionDep, cursor: str | None = None) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    rows, listing = await asyncio.gather(
        session.api.data("/activity"), session.api.get("/generations", limit=25, cursor=cursor)
    )
    series = views.activity_series(rows, dt.datetime.now(dt.UTC).date())
    days = series["days"]
    per_day = series["per_day"]
    models = series["models"][:12]
    chart_svgs = {
        "Spend per day (USD)": charts.bar_chart("Spend per day", days, per_day["usage"], "$"),
        "Requests per day": charts.bar_chart("Requests per day", days, per_day["requests"]),
        "Tokens per day": charts.bar_chart("Tokens per day", days, per_day["tokens"]),
        "Spend per model (USD)": charts.bar_chart(
            "Spend per model", [m for m, _ in models], [v["usage"] for _, v in models], "$"
        ),
        "Tokens per model": charts.bar_chart(
            "Tokens per model", [m for m, _ in models], [v["tokens"] for _, v in models]
        ),
    }
    generations = [{**g, "receipt": views.receipt(g)} for g in listing["data"]]
    return page(
        "activity.html", session, section="activity", series=series, charts=chart_svgs,
        generations=generations, next_cursor=listing["next_cursor"],
    )  # fmt: skip


@router.get(f"{PREFIX}/generations/{{generation_id}}")
async def generation_page(generation_id: str, session: SessionDep) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    generation = await session.api.data("/generation", id=generation_id)
    content = None
    if generation.get("logged"):
        try:
            content = await session.api.data("/generation/content", id=generation_id)
        except VeilError as exc:
            if exc.code != 404:  # logged, then erased (logging turned off, or expired)
                raise
    return page(
        "generation.html", session, section="activity", generation=generation,
        policy=views.policy_text(generation.get("data_policy")),
        receipt=views.receipt(generation), content=content,
    )  # fmt: skip


# rankings ------------------------------------------------------------------


@router.get(f"{PREFIX}/rankings")
async def rankings_page(session: SessionDep, period: str = "day", category: str = "") -> Response:
    if period not in ("day", "week"):
        period = "day"
    if category and category not in CATEGORIES:
        category = ""
    rows = await session.api.call(
        "GET", "/rankings", {"period": period, "category": category or None}, for_account=False
    )
    top = max((row.get("tokens") or row.get("observations") or 0 for row in rows["data"]),
              default=0)  # fmt: skip
    return page(
        "rankings.html", session, section="rankings", rows=rows["data"], period=period,
        category=category, categories=CATEGORIES, top=top or 1,
    )  # fmt: skip


# playground ----------------------------------------------------------------


@router.get(f"{PREFIX}/playground")
async def playground_page(session: SessionDep) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    body = json.dumps(PLAYGROUND_EXAMPLE, indent=2)
    return page("playground.html", session, section="playground", body=body, result=None)


@router.post(f"{PREFIX}/playground")
async def playground_explain(request: Request, session: SessionDep) -> Response:
    if (chosen := choose_account(session)) is not None:
        return chosen
    body = first(await form_fields(request), "body")
    try:
        request_body = json.loads(body)
    except json.JSONDecodeError as exc:
        return page("playground.html", session, section="playground", body=body, result=None,
                    error=f"Not valid JSON: {exc}")  # fmt: skip
    try:
        result = (await session.api.call("POST", "/routing/explain", json=request_body))["data"]
    except VeilError as exc:
        if exc.code >= 500:
            raise
        return page("playground.html", session, section="playground", body=body, result=None,
                    error=exc.message)  # fmt: skip
    for entry in result["excluded"]:
        entry["why"] = [views.reason_text(r) for r in entry["excluded_by"]]
    for entry in result["eligible"]:
        entry["policy"] = views.policy_text(entry.get("data_policy"))
    return page("playground.html", session, section="playground", body=body, result=result)


router.include_router(keys.router)
router.include_router(guardrails.router)
router.include_router(compliance.router)


# Last: any other console path is a page of its own saying so (with the same headers).
@router.get(f"{PREFIX}/{{unknown:path}}")
async def not_found(unknown: str) -> Response:
    raise VeilError(404, f"No such console page: /console/{unknown}")
