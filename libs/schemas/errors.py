"""The one error shape of the public API: {"error": {"code", "message", "metadata"}}."""

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
