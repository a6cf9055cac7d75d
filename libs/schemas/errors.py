"""The one error shape of the public API: {"error": {"code", "message", "metadata"}}."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: int = Field(description="HTTP status the gateway answers with")
    message: str
    metadata: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class VeilError(Exception):
    """Raised anywhere in veil's code to produce the public error shape."""

    def __init__(self, code: int, message: str, metadata: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.metadata = metadata

    @property
    def body(self) -> ErrorBody:
        return ErrorBody(code=self.code, message=self.message, metadata=self.metadata)

    @classmethod
    def from_body(cls, body: ErrorBody) -> "VeilError":
        return cls(body.code, body.message, body.metadata)


def service_missing(service: str) -> ErrorBody:
    """The next hop of a request has no subscriber: nothing reached any provider."""
    return ErrorBody(
        code=503,
        message=f"No provider available: veil's {service} service is not running; "
        "the request was not sent to any provider",
        metadata={"service": service, "upstream_may_have_received": False},
    )


def validation_problems(
    errors: Iterable[Mapping[str, Any]],
    limit: int = 5,
    where: Callable[[tuple[Any, ...]], str] | None = None,
) -> str:
    """A pydantic error list (`exc.errors()`) as one line: "field.path: what is wrong; ...".

    Where and what, never the input values: they may hold the prompt (docs/privacy.md,
    invariant 1). FastAPI's leading "body" is left out of each location; `where` names
    a location in the caller's own terms (e.g. a catalog entry by its id)."""
    parts = []
    for count, err in enumerate(errors):
        if count == limit:
            break
        location = tuple(err.get("loc", ()))
        if location[:1] == ("body",):
            location = location[1:]
        named = where(location) if where else ".".join(str(p) for p in location)
        parts.append(f"{named}: {err['msg']}" if named else err["msg"])
    return "; ".join(parts)
