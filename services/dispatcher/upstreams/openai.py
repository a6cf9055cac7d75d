"""OpenAI-compatible chat completions: most providers speak this (catalog `api: openai`).

Canonical form inside veil is OpenAI's own, so the transforms are small: select the
parameters the endpoint supports, set the provider's model id, and check the shape
of what comes back.
"""

from typing import Any

from veil.dispatcher.upstreams.base import (
    UpstreamMalformed,
    UpstreamTarget,
    WireRequest,
    parse_json,
)
from veil.schemas.catalog import Endpoint

# Always forwarded: the conversation itself and the stream switches veil sets.
STRUCTURAL_FIELDS = frozenset({"messages", "stream", "stream_options", "tools", "tool_choice"})


def select_parameters(body: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """Drop parameters the endpoint does not support, rather than forward them."""
    supported = set(endpoint.supported_parameters)
    return {k: v for k, v in body.items() if k in STRUCTURAL_FIELDS or k in supported}


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


class StreamTranslator:
    """OpenAI chunks are already canonical: check each and pass it on."""

    def __init__(self) -> None:
        self.finished = False

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        if data == b"[DONE]":
            self.finished = True
            return []
        chunk = parse_json(data)
        if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
            raise UpstreamMalformed("chunk without choices")
        return [chunk]
