"""OpenAI-compatible chat completions: most providers speak this (catalog `api: openai`).

Canonical form inside veil is OpenAI's own, so the transforms are small: select the
parameters the endpoint supports, set the provider's model id, and check the shape
of what comes back.
"""

from typing import Any, cast

from veil.dispatcher.upstreams.base import (
    UpstreamMalformed,
    UpstreamTarget,
    WireRequest,
    parse_json,
    select_parameters,
)
from veil.schemas.catalog import Endpoint
from veil.schemas.chunks import Chunk


def build_request(
    body: dict[str, Any], endpoint: Endpoint, target: UpstreamTarget, stream: bool
) -> WireRequest:
    payload = select_parameters(body, endpoint)
    payload["model"] = endpoint.upstream_model
    payload["stream"] = stream
    if stream:
        payload["stream_options"] = {"include_usage": True}
    else:
        payload.pop("stream_options", None)
    return WireRequest(
        url=f"{target.base_url.rstrip('/')}/chat/completions",
        headers=target.auth_headers(),
        body=payload,
        params=target.query,
    )


def parse_response(data: Any) -> dict[str, Any]:
    """A non-streaming completion, checked enough that the client gets a valid one."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise UpstreamMalformed("no choices in completion")
    return data


# What an embeddings request may carry to the upstream besides model and input, when the
# endpoint lists it (veil converts the vectors' encoding itself when it does not).
EMBEDDING_PARAMETERS = ("dimensions", "encoding_format", "user")


def build_embeddings(
    body: dict[str, Any], endpoint: Endpoint, target: UpstreamTarget
) -> WireRequest:
    supported = set(endpoint.supported_parameters)
    payload = {"model": endpoint.upstream_model, "input": body["input"]}
    payload |= {k: body[k] for k in EMBEDDING_PARAMETERS if k in body and k in supported}
    return WireRequest(
        url=f"{target.base_url.rstrip('/')}/embeddings",
        headers=target.auth_headers(),
        body=payload,
        params=target.query,
    )


def parse_embeddings(data: Any, inputs: int) -> dict[str, Any]:
    """An embeddings answer, checked: one vector (floats or base64) per input, in order."""
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) != inputs:
        raise UpstreamMalformed("embeddings answer without one vector per input")
    for item in items:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(vector, list | str) or not isinstance(item.get("index"), int):
            raise UpstreamMalformed("embedding without an index and a vector")
    data["data"] = sorted(items, key=lambda item: item["index"])
    return data


class StreamTranslator:
    """OpenAI chunks are already canonical: check each and pass it on."""

    def __init__(self) -> None:
        self.finished = False

    def feed(self, event: str | None, data: bytes) -> list[Chunk]:
        if data == b"[DONE]":
            self.finished = True
            return []
        chunk = parse_json(data)
        if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
            raise UpstreamMalformed("chunk without choices")
        return [cast(Chunk, chunk)]
