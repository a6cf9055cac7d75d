"""The gateway's OpenAPI document: complete, and true to how veil answers."""

import pytest
import schemathesis

from veil.gateway.app import build_app
from veil.gateway.config import GatewaySettings
from veil.gateway.openapi import ANTHROPIC_ERROR, API, OPERATIONS, UNLISTED
from veil.schemas.chat import ChatRequest
from veil.schemas.embeddings import EmbeddingsRequest
from veil.surfaces.anthropic import MessagesBody
from veil.surfaces.responses import ResponsesRequest

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document() -> dict:
    return build_app(GatewaySettings()).openapi()


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if method in METHODS and (method, path) not in UNLISTED:
                yield method, path, operation


def test_every_route_is_described_and_nothing_else(document):
    routes = {(m, p.removeprefix(API)) for m, p, _ in operations(document)}
    assert routes == set(OPERATIONS)


def test_errors_are_400_in_veils_shape_never_422(document):
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        assert "400" in responses, (method, path)
        # The Messages API answers errors as Anthropic's clients read them.
        expected = (
            ANTHROPIC_ERROR
            if path == API + "/messages"
            else {"$ref": "#/components/schemas/ErrorResponse"}
        )
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == expected, (method, path)
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["ErrorBody"]["required"] == ["code", "message"]


@pytest.mark.parametrize("path", ["/chat/completions", "/routing/explain"])
def test_routes_reading_raw_bodies_declare_the_chat_request(document, path):
    body = document["paths"][API + path]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/ChatRequest"}
    ChatRequest.model_validate(body["example"])  # the example is a valid request
    chat = document["components"]["schemas"]["ChatRequest"]
    assert "messages" in chat["required"]
    assert chat["properties"]["stream"]["type"] == "boolean"
    assert "ProviderPreferences" in document["components"]["schemas"]


def test_chat_lists_the_statuses_it_answers(document):
    responses = document["paths"][API + "/chat/completions"]["post"]["responses"]
    assert set(responses) == {
        "200", "400", "401", "402", "403", "404", "408", "413", "429", "502", "503"
    }  # fmt: skip
    assert set(responses["200"]["content"]) == {"application/json", "text/event-stream"}
    assert "Retry-After" in responses["429"]["headers"]
    assert "X-Generation-Id" in responses["502"]["headers"]


def test_authenticated_routes_ask_for_a_bearer_key(document):
    security = {(m, p.removeprefix(API)): o.get("security") for m, p, o in operations(document)}
    assert security[("post", "/chat/completions")] == [{"bearer": []}]
    assert security[("get", "/providers")] is None
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_the_document_loads_in_a_fuzzer(document):
    schema = schemathesis.openapi.from_dict(document)
    loaded = [result.ok() for result in schema.get_all_operations()]
    assert len(loaded) == len(OPERATIONS) + len(UNLISTED)


@pytest.mark.parametrize(
    ("path", "schema", "model"),
    [
        ("/messages", "MessagesBody", MessagesBody),
        ("/responses", "ResponsesRequest", ResponsesRequest),
        ("/embeddings", "EmbeddingsRequest", EmbeddingsRequest),
    ],
)
def test_the_other_surfaces_declare_their_bodies_with_a_valid_example(
    document, path, schema, model
):
    body = document["paths"][API + path]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    model.model_validate(body["example"])
    assert schema in document["components"]["schemas"]
