"""The gateway's OpenAPI document: what FastAPI generates, completed with what it cannot
see from the route signatures.

- The generation routes read their bodies themselves (one parse, no copy), so FastAPI
  knows no request body for them: their schemas (ChatRequest, MessagesBody,
  ResponsesRequest, EmbeddingsRequest) are declared here.
- Every error is veil's one shape, `{"error": {"code", "message", "metadata"}}` (the
  Messages API's errors are Anthropic's, `{"type": "error", "error": {...}}`), and an
  invalid request is a 400, never FastAPI's 422: each operation lists the statuses it
  may answer (OPERATIONS below), all with that schema.
- Responses are `{"data": ...}` objects, sketched where that costs nothing.

A unit test checks that every route has an entry here, so a new route cannot go
undocumented.
"""

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from veil.schemas.accounts import PrivacySettings, PrivacySettingsPatch
from veil.schemas.chat import ChatRequest
from veil.schemas.embeddings import EmbeddingsRequest
from veil.schemas.errors import ErrorResponse
from veil.schemas.guardrails import GuardrailPatch, GuardrailRules, GuardrailView, KeyHashes
from veil.surfaces.anthropic import MessagesBody
from veil.surfaces.responses import ResponsesRequest

API = "/api/v1"
REF = "#/components/schemas/{model}"
BEARER = "bearer"

ERRORS: dict[int, str] = {
    400: "Invalid request; the message names the field",
    401: "Missing, invalid, disabled or expired API key",
    402: "The key's spend reached its limit, or a guardrail's budget for it",
    403: "This key may not do this; the message says which key may",
    404: "Not found; the message says what (for a chat request: the model, or any "
    "endpoint the data policy allows, with `metadata.availability`)",
    408: "The request body did not arrive in time, or the request exceeded its deadline",
    409: "The guardrail changed meanwhile; read it again and retry",
    413: "The request body is larger than the gateway accepts",
    429: "The key's request rate, or every provider, is rate limited",
    502: "Every upstream failed (`metadata.provider_responses`); the upstream may have "
    "received the request",
    503: "A veil service is unavailable; nothing was sent to a provider unless the "
    "message says otherwise",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer"},
    }
}
GENERATION_ID = {
    "X-Generation-Id": {
        "description": "The generation's id, for GET /generation; on errors too",
        "schema": {"type": "string"},
    }
}


def _data(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenRouter's read shape: the payload under `data`."""
    return {"type": "object", "required": ["data"], "properties": {"data": schema}}


OBJECT: dict[str, Any] = {"type": "object"}
LIST: dict[str, Any] = {"type": "array", "items": {"type": "object"}}
MODEL_PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": LIST, "total_count": {"type": "integer"}},
}
CHAT_COMPLETION: dict[str, Any] = {
    "type": "object",
    "required": ["id", "object", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["chat.completion"]},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "provider": {"type": "string"},
        "choices": LIST,
        "usage": {"type": ["object", "null"]},
    },
}
MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type", "role", "content", "stop_reason", "usage"],
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string", "enum": ["message"]},
        "role": {"type": "string", "enum": ["assistant"]},
        "model": {"type": "string"},
        "content": LIST,
        "stop_reason": {"type": ["string", "null"]},
        "usage": OBJECT,
    },
}
RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "object", "status", "output"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["response"]},
        "status": {"type": "string"},
        "model": {"type": "string"},
        "output": LIST,
        "usage": {"type": ["object", "null"]},
    },
}
EMBEDDINGS: dict[str, Any] = {
    "type": "object",
    "required": ["object", "data", "model", "usage"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["list"]},
        "data": LIST,
        "model": {"type": "string"},
        "usage": OBJECT,
    },
}
ANTHROPIC_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"type": "string", "enum": ["error"]},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}
PRIVACY: dict[str, Any] = {"$ref": REF.format(model="PrivacySettings")}
CHAT_EXAMPLE = {
    "model": "meta-llama/llama-3.1-8b-instruct",
    "messages": [{"role": "user", "content": "Hello"}],
}
EXAMPLES: dict[str, dict[str, Any]] = {
    "ChatRequest": CHAT_EXAMPLE,
    "MessagesBody": {
        "model": "anthropic/claude-3.5-haiku",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hello"}],
    },
    "ResponsesRequest": {"model": "openai/gpt-4o-mini", "input": "Hello"},
    "EmbeddingsRequest": {"model": "openai/text-embedding-3-small", "input": ["Hello", "world"]},
}
# What a streaming surface's success says of its events.
STREAMS = {
    "ChatRequest": "The completion, or with `stream: true` server-sent events ending with "
    "`data: [DONE]`",
    "MessagesBody": "The message, or with `stream: true` the Messages API's events "
    "(message_start ... message_stop)",
    "ResponsesRequest": "The response, or with `stream: true` the Responses API's events "
    "(response.created ... response.completed)",
}


@dataclass(frozen=True)
class Operation:
    """What one operation may answer: its success status and schema, and its errors."""

    errors: tuple[int, ...]
    auth: bool = True
    status: int = 200
    schema: dict[str, Any] | None = None
    body: str | None = None  # a component declared here, for routes that read raw bodies
    headers: dict[str, Any] = field(default_factory=dict)
    error_schema: dict[str, Any] | None = None  # when not veil's own ErrorResponse


GENERATION_ERRORS = (400, 401, 402, 403, 404, 408, 413, 429, 502, 503)
CHAT = Operation(
    GENERATION_ERRORS, schema=CHAT_COMPLETION, body="ChatRequest", headers=GENERATION_ID
)
GUARDRAIL = {"$ref": REF.format(model="GuardrailView")}
COUNTED = {
    "type": "object",
    "required": ["data", "total_count"],
    "properties": {"data": LIST, "total_count": {"type": "integer"}},
}


def _count(name: str) -> dict[str, Any]:
    return {"type": "object", "required": [name], "properties": {name: {"type": "integer"}}}


PUBLIC = (400,)
ACCOUNT_READ = (400, 401, 403, 404)
ASKS_A_SERVICE = (400, 401, 403, 404, 503)

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("post", "/chat/completions"): CHAT,
    ("post", "/messages"): Operation(
        GENERATION_ERRORS,
        schema=MESSAGE,
        body="MessagesBody",
        headers=GENERATION_ID,
        error_schema=ANTHROPIC_ERROR,
    ),
    ("post", "/responses"): Operation(
        GENERATION_ERRORS, schema=RESPONSE, body="ResponsesRequest", headers=GENERATION_ID
    ),
    ("post", "/embeddings"): Operation(
        GENERATION_ERRORS, schema=EMBEDDINGS, body="EmbeddingsRequest", headers=GENERATION_ID
    ),
    ("get", "/audit"): Operation(
        ACCOUNT_READ,
        schema={
            "type": "object",
            "required": ["data", "next_cursor"],
            "properties": {"data": LIST, "next_cursor": {"type": ["string", "null"]}},
        },
    ),
    ("get", "/compliance/report"): Operation(ASKS_A_SERVICE, schema=_data(OBJECT)),
    ("post", "/routing/explain"): Operation(
        (400, 401, 403, 404, 408, 413, 503),
        schema=_data(
            {
                "type": "object",
                "required": ["eligible", "excluded"],
                "properties": {"eligible": LIST, "excluded": LIST},
            }
        ),
        body="ChatRequest",
    ),
    ("get", "/models"): Operation(PUBLIC, auth=False, schema=MODEL_PAGE),
    ("get", "/models/user"): Operation(ASKS_A_SERVICE, schema=MODEL_PAGE),
    ("get", "/models/count"): Operation(
        PUBLIC,
        auth=False,
        schema=_data(
            {"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}
        ),
    ),
    ("get", "/models/{author}/{slug}"): Operation((400, 404), auth=False, schema=_data(OBJECT)),
    ("get", "/model/{author}/{slug}"): Operation((400, 404), auth=False, schema=_data(OBJECT)),
    ("get", "/models/{author}/{slug}/endpoints"): Operation(
        (400, 404), auth=False, schema=_data(OBJECT)
    ),
    ("get", "/endpoints/zdr"): Operation(PUBLIC, auth=False, schema=_data(LIST)),
    ("get", "/providers"): Operation(PUBLIC, auth=False, schema=_data(LIST)),
    ("post", "/accounts"): Operation(
        (400, 401, 403),
        status=201,
        schema=_data(
            {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            }
        ),
    ),
    ("get", "/accounts"): Operation((400, 401), schema=_data(LIST)),
    ("get", "/privacy"): Operation(
        ACCOUNT_READ, schema=_data({"$ref": REF.format(model="PrivacySettings")})
    ),
    ("patch", "/privacy"): Operation(
        ASKS_A_SERVICE,  # turning prompt logging off queues the log's erasure
        schema=_data(PRIVACY),
        body="PrivacySettingsPatch",
    ),
    ("get", "/key"): Operation((400, 401, 403), schema=_data(OBJECT)),
    ("post", "/keys"): Operation(
        ACCOUNT_READ,
        status=201,
        schema={
            "type": "object",
            "required": ["key", "data"],
            "properties": {"key": {"type": "string"}, "data": OBJECT},
        },
    ),
    ("get", "/keys"): Operation(ACCOUNT_READ, schema=_data(LIST)),
    ("get", "/keys/{key_hash}"): Operation(ACCOUNT_READ, schema=_data(OBJECT)),
    ("patch", "/keys/{key_hash}"): Operation(ACCOUNT_READ, schema=_data(OBJECT)),
    ("delete", "/keys/{key_hash}"): Operation(
        ACCOUNT_READ,
        schema={
            "type": "object",
            "required": ["deleted", "data"],
            "properties": {"deleted": {"type": "boolean"}, "data": OBJECT},
        },
    ),
    ("get", "/credits"): Operation(
        ASKS_A_SERVICE,
        schema=_data(
            {
                "type": "object",
                "required": ["total_credits", "total_usage"],
                "properties": {
                    "total_credits": {"type": "number"},
                    "total_usage": {"type": "number"},
                },
            }
        ),
    ),
    ("get", "/generation"): Operation(ASKS_A_SERVICE, schema=_data(OBJECT)),
    ("get", "/generation/content"): Operation(ASKS_A_SERVICE, schema=_data(OBJECT)),
    ("delete", "/generation/content"): Operation(ASKS_A_SERVICE, status=204),
    ("get", "/generation/content/list"): Operation(
        ASKS_A_SERVICE,
        schema={
            "type": "object",
            "required": ["data"],
            "properties": {"data": LIST, "next_cursor": {"type": ["string", "null"]}},
        },
    ),
    ("get", "/generations"): Operation(
        ASKS_A_SERVICE,
        schema={
            "type": "object",
            "required": ["data"],
            "properties": {"data": LIST, "next_cursor": {"type": ["string", "null"]}},
        },
    ),
    ("get", "/activity"): Operation(ASKS_A_SERVICE, schema=_data(LIST)),
    ("post", "/guardrails"): Operation(
        ACCOUNT_READ, status=201, schema=_data(GUARDRAIL), body="GuardrailRules"
    ),
    ("get", "/guardrails"): Operation(ACCOUNT_READ, schema=COUNTED),
    ("get", "/guardrails/{guardrail_id}"): Operation(ACCOUNT_READ, schema=_data(GUARDRAIL)),
    ("patch", "/guardrails/{guardrail_id}"): Operation(
        (*ACCOUNT_READ, 409), schema=_data(GUARDRAIL), body="GuardrailPatch"
    ),
    ("delete", "/guardrails/{guardrail_id}"): Operation(
        ACCOUNT_READ,
        schema={
            "type": "object",
            "required": ["deleted"],
            "properties": {"deleted": {"type": "boolean", "const": True}},
        },
    ),
    ("get", "/guardrails/{guardrail_id}/assignments/keys"): Operation(ACCOUNT_READ, schema=COUNTED),
    ("post", "/guardrails/{guardrail_id}/assignments/keys"): Operation(
        (*ACCOUNT_READ, 409), schema=_count("assigned_count"), body="KeyHashes"
    ),
    ("post", "/guardrails/{guardrail_id}/assignments/keys/remove"): Operation(
        (*ACCOUNT_READ, 409), schema=_count("unassigned_count"), body="KeyHashes"
    ),
    ("get", "/rankings"): Operation((400, 401, 503), schema=_data(LIST)),
}
# Outside the API: the liveness probe answers 200 or nothing.
UNLISTED = {("get", "/health")}


def _components(*models: type[BaseModel]) -> dict[str, Any]:
    """The JSON schemas of `models` and of every model they use, by name."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add what FastAPI cannot see to its generated `document` (changed in place)."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    contracts = (ErrorResponse, ChatRequest, PrivacySettings, PrivacySettingsPatch)
    surfaces = (MessagesBody, ResponsesRequest, EmbeddingsRequest)
    guardrails = (GuardrailRules, GuardrailPatch, GuardrailView, KeyHashes)
    schemas.update(_components(*contracts, *surfaces, *guardrails))
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {
        BEARER: {"type": "http", "scheme": "bearer", "description": "an API key"}
    }
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            route = path.removeprefix(API)
            if (method, route) not in UNLISTED:
                _describe(operation, OPERATIONS[(method, route)])
    return document


def _describe(operation: dict[str, Any], spec: Operation) -> None:
    """One operation as its spec says: its success and error responses, its security and
    its request body."""
    error_schema = spec.error_schema or {"$ref": REF.format(model="ErrorResponse")}
    error = {"application/json": {"schema": error_schema}}
    responses = operation.setdefault("responses", {})
    success = responses.pop("200", {"description": "Successful Response"})
    responses.pop("422", None)
    if spec.status == 204:
        success = {"description": "Done; no content"}
    elif spec.schema is not None:
        success["content"] = {"application/json": {"schema": spec.schema}}
    if spec.body in STREAMS:
        success["content"]["text/event-stream"] = {"schema": {"type": "string"}}
        success["description"] = STREAMS[spec.body]
    if spec.headers:
        success["headers"] = spec.headers
    responses[str(spec.status)] = success
    for status in spec.errors:
        answer: dict[str, Any] = {"description": ERRORS[status], "content": error}
        headers = {**spec.headers, **(RETRY_AFTER if status == 429 else {})}
        if headers:
            answer["headers"] = headers
        responses[str(status)] = answer
    if spec.auth:
        operation["security"] = [{BEARER: []}]
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": REF.format(model=spec.body)},
                    **({"example": EXAMPLES[spec.body]} if spec.body in EXAMPLES else {}),
                }
            },
        }


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
