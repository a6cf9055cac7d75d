"""What every console page module shares: the dependency that signs a request in, and
rendering a page."""

from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import Response

from veil.gateway.console.session import Session, current_session, render

SessionDep = Annotated[Session, Depends(current_session)]


def first(form: dict[str, list[str]], name: str, default: str = "") -> str:
    return (form.get(name) or [default])[0]


def page(name: str, session: Session | None, **context: Any) -> Response:
    return render(name, session=session, **context)


def choose_account(session: Session) -> Response | None:
    """The admin key's pages are about the account it switched to: ask for one first."""
    if session.account_id is None:
        return page("choose.html", session, section="")
    return None
