"""An embeddings generation in the dispatcher: what differs from a chat completion.

The vectors reach the client in the encoding it asked for, whatever the endpoint
returned (an endpoint that cannot encode base64 gets floats asked of it, and veil
encodes them). They are never kept: a prompt log of an embeddings request records the
texts and how many vectors came back, as a vector can be inverted back into its text.
"""

import base64
import struct
import sys
from array import array
from typing import Any

from veil.dispatcher.cost import Usage, estimate_tokens, usage_from
from veil.schemas.embeddings import input_texts


def input_count(body: dict[str, Any]) -> int:
    """How many vectors the request asks for: one per text (or per list of token ids)."""
    value = body["input"]
    if isinstance(value, str) or (value and isinstance(value[0], int)):
        return 1
    return len(value)


def input_length(body: dict[str, Any]) -> int:
    """Characters of input, for estimating its tokens (token ids count one each)."""
    texts = input_texts(body)
    if texts is not None:
        return sum(len(text) for text in texts)
    value = body["input"]
    ids = len(value) if isinstance(value[0], int) else sum(len(v) for v in value)
    return ids * 4  # a token id is a token: four "characters" of the estimate


def usage_of(answer: dict[str, Any], body: dict[str, Any]) -> Usage:
    """The upstream's count of input tokens, or an estimate when it gave none."""
    reported = answer.get("usage")
    if isinstance(reported, dict) and isinstance(reported.get("prompt_tokens"), int):
        return usage_from({"completion_tokens": 0, **reported}) or Usage(0, 0)
    return Usage(estimate_tokens(input_length(body)), 0, estimated=True)


def _floats(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def _base64(vector: list[float]) -> str:
    packed = array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()  # OpenAI's base64 is of little-endian float32s
    return base64.b64encode(packed.tobytes()).decode()


def encode_vectors(items: list[dict[str, Any]], encoding: str | None) -> list[dict[str, Any]]:
    """The answer's items with each vector in the encoding the client asked for."""
    want_base64 = encoding == "base64"
    out = []
    for item in items:
        vector = item["embedding"]
        if want_base64 and isinstance(vector, list):
            vector = _base64(vector)
        elif not want_base64 and isinstance(vector, str):
            vector = _floats(vector)
        out.append({"object": "embedding", "index": item["index"], "embedding": vector})
    return out
