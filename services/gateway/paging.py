"""Newest-first listings (generations, prompt-log records): a page of rows and an opaque
cursor that continues after its last row."""

import base64
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from veil.gateway.views.responses import json_response
from veil.schemas.errors import VeilError

Limit = Annotated[int, Query(ge=1, le=100)]


def encode_cursor(row: dict) -> str:
    """Where a newest-first listing stopped: the last row's time and id."""
    return base64.urlsafe_b64encode(f"{row['created_at']}|{row['id']}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    """The (time, id) a cursor names; None for the first page."""
    if not cursor:
        return None
    try:
        created_at, _, generation_id = base64.urlsafe_b64decode(cursor).decode().partition("|")
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 inside
        raise VeilError(400, "cursor: not a cursor this API returned") from None
    if not generation_id:
        raise VeilError(400, "cursor: not a cursor this API returned")
    return created_at, generation_id


def page_response(rows: list[dict], limit: int) -> Response:
    """A page, and `next_cursor` when it was full (there may be more)."""
    next_cursor = encode_cursor(rows[-1]) if len(rows) == limit else None
    return json_response({"data": rows, "next_cursor": next_cursor})
