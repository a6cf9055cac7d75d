"""Every error the gateway returns has the one documented shape, whatever raised it."""

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from veil.schemas.errors import ErrorBody, VeilError, validation_problems


def error_response(
    error: ErrorBody, headers: dict[str, str] | None = None, body: dict | None = None
) -> Response:
    """The error as JSON (`body`: in another surface's shape than veil's own)."""
    retry_after = (error.metadata or {}).get("retry_after")
    if error.code == 429 and retry_after is not None:
        headers = {**(headers or {}), "Retry-After": str(max(1, round(retry_after)))}
    return Response(
        orjson.dumps(body or {"error": error.model_dump(exclude_none=True)}),
        status_code=error.code,
        media_type="application/json",
        headers=headers,
    )


def json_object(raw: bytes) -> dict:
    """A request body that must be a JSON object; a 400 saying what it is instead."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise VeilError(400, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise VeilError(400, "Request body must be a JSON object")
    return data


def validation_message(exc) -> str:
    """A pydantic (or FastAPI) validation error as one line naming the fields."""
    return validation_problems(exc.errors())


def install(app: FastAPI) -> None:
    @app.exception_handler(VeilError)
    async def _veil(request: Request, exc: VeilError) -> Response:
        return error_response(exc.body)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(
            ErrorBody(code=400, message=f"Invalid request: {validation_message(exc)}")
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return error_response(ErrorBody(code=exc.status_code, message=str(exc.detail)))
