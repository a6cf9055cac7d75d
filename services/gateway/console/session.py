"""Who is signed in to the console, and what every console response carries.

The key is kept in a session cookie (no expiry: gone when the browser closes) that is
`HttpOnly` (no script, ours or an injected one, can read it), `SameSite=Strict` (no
other site's page can send it) and `Secure` over HTTPS, scoped to /console. It never
appears in a URL. A form post must also come from this origin (`Origin` checked).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from veil.gateway.console import charts
from veil.gateway.console.api import ApiClient
from veil.schemas.errors import VeilError

PREFIX = "/console"
KEY_COOKIE = "veil_console_key"
ACCOUNT_COOKIE = "veil_console_account"  # the account an admin switched to (not a secret)

# Every asset is served from this package: nothing is fetched from elsewhere, and no
# inline script or style runs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: with no-referrer a form post's Origin is "null"
    "Referrer-Policy": "same-origin",
}

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: Any) -> str:
    """An API timestamp (ISO 8601, UTC) as `2026-01-31 12:34:56`."""
    return str(value or "").replace("T", " ")[:19]


def _ms(value: Any) -> str:
    return "—" if value is None else f"{float(value):,.0f} ms"


templates.filters.update(when=_when, ms=_ms, usd=charts.usd)


class SignInRequired(Exception):
    """No key, or one the API no longer accepts: back to the sign-in page."""


@dataclass
class Session:
    """The signed-in key and the account its pages are about."""

    api: ApiClient
    kind: str  # "admin" or "management"
    account_id: str | None  # None: an admin that has not chosen an account yet
    accounts: list[dict[str, Any]] = field(default_factory=list)  # what the key may see
    key_id: str | None = None  # the signed-in key's public id (None for the admin key)

    @property
    def account_name(self) -> str:
        for account in self.accounts:
            if account["id"] == self.account_id:
                return account["name"]
        return ""


async def identify(request: Request, key: str, chosen: str | None) -> Session:
    """Ask the API who `key` is. Raises SignInRequired for an unknown or revoked key and
    a 403 `VeilError` for an inference key (the console manages; applications infer)."""
    api = ApiClient(request.app, key)
    try:
        me = await api.data("/key")
    except VeilError as exc:
        if exc.code == 401:
            raise SignInRequired(exc.message) from exc
        if exc.code != 403:
            raise
        accounts = await api.data("/accounts")  # 403 on /key: the admin key
        ids = {account["id"] for account in accounts}
        account = chosen if chosen in ids else None
        api.account_id = account
        return Session(api, "admin", account, accounts)
    if not me["is_management_key"]:
        raise VeilError(
            403,
            "This is an inference key: sign in with a management key of the account "
            "(or the admin key)",
        )
    accounts = await api.data("/accounts")
    return Session(api, "management", me["account_id"], accounts, key_id=me["hash"])


async def current_session(request: Request) -> Session:
    """The signed-in session (a dependency of every page but sign-in)."""
    key = request.cookies.get(KEY_COOKIE)
    if not key:
        raise SignInRequired("")
    return await identify(request, key, request.cookies.get(ACCOUNT_COOKIE))


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


MAX_FORM_BYTES = 1 << 20  # a pasted request body in the playground is the largest form


async def form_fields(request: Request) -> dict[str, list[str]]:
    """An urlencoded form (the console's forms post nothing else)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise VeilError(413, "This form is larger than the console accepts (1 MiB)")
    return parse_qs(body.decode(errors="replace"), keep_blank_values=True)


def same_origin(request: Request) -> bool:
    """A state-changing request must come from a page of this gateway."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # SameSite=Strict already kept other sites' requests cookie-less
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


class ConsoleRoute(APIRoute):
    """Every console response: signed-in or sent to sign in, API errors shown as a page,
    and the security headers (CSP first) on all of it."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            if request.method == "POST" and not same_origin(request):
                response: Response = render(
                    "error.html", 403, session=None, code=403, message="Cross-site form post"
                )
            else:
                try:
                    response = await handler(request)
                except SignInRequired:
                    response = redirect(f"{PREFIX}/sign-in")
                    response.delete_cookie(KEY_COOKIE, path=PREFIX)
                except VeilError as exc:
                    response = render(
                        "error.html", exc.code, session=None, code=exc.code, message=exc.message
                    )
            response.headers.update(SECURITY_HEADERS)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return console_handler
