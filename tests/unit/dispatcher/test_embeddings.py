"""The dispatcher's embeddings helpers: vectors in the encoding the client asked for,
usage from the upstream or estimated, and the OpenAI adapter's checks."""

import base64
import struct

import pytest

from veil.dispatcher.embeddings import encode_vectors, input_count, usage_of
from veil.dispatcher.upstreams import openai
from veil.dispatcher.upstreams.base import UpstreamMalformed, UpstreamTarget
from veil.schemas.catalog import Endpoint

VECTOR = [0.25, -0.5, 1.0, 0.125]  # exact in float32
ENCODED = base64.b64encode(struct.pack("<4f", *VECTOR)).decode()


@pytest.mark.parametrize(
    ("given", "asked", "expected"),
    [
        (VECTOR, "base64", ENCODED),  # the endpoint cannot encode: veil does
        (ENCODED, None, VECTOR),  # floats by default, whatever the endpoint sent
        (ENCODED, "float", VECTOR),
        (VECTOR, "float", VECTOR),
        (ENCODED, "base64", ENCODED),
    ],
)
def test_vectors_reach_the_client_in_the_encoding_it_asked_for(given, asked, expected):
    [item] = encode_vectors([{"index": 0, "embedding": given, "extra": "dropped"}], asked)
    assert item == {"object": "embedding", "index": 0, "embedding": expected}


@pytest.mark.parametrize(
    ("value", "count"),
    [("one", 1), (["a", "b", "c"], 3), ([1, 2, 3], 1), ([[1, 2], [3]], 2)],
)
def test_one_vector_per_text_or_per_list_of_token_ids(value, count):
    assert input_count({"input": value}) == count


def test_usage_is_the_upstreams_or_an_estimate_that_says_so():
    reported = usage_of({"usage": {"prompt_tokens": 7, "total_tokens": 7}}, {"input": "x"})
    assert (reported.prompt_tokens, reported.completion_tokens, reported.estimated) == (7, 0, False)
    estimated = usage_of({}, {"input": ["a" * 40, "b" * 8]})
    assert (estimated.prompt_tokens, estimated.estimated) == (12, True)  # 48 chars / 4


def endpoint(parameters: list[str]) -> Endpoint:
    return Endpoint.model_validate(
        {
            "provider": "acme",
            "upstream_model": "acme-embed",
            "pricing": {"prompt": "0.0000001", "completion": "0"},
            "context_length": 8192,
            "supported_parameters": parameters,
        }
    )


def test_the_request_carries_only_what_the_endpoint_lists():
    body = {"input": ["a"], "dimensions": 64, "encoding_format": "base64", "user": "u1"}
    target = UpstreamTarget(base_url="http://upstream/v1/", api_key="k")
    wire = openai.build_embeddings(body, endpoint(["dimensions"]), target)
    assert wire.url == "http://upstream/v1/embeddings"
    assert wire.body == {"model": "acme-embed", "input": ["a"], "dimensions": 64}
    assert wire.headers["authorization"] == "Bearer k"


def test_an_answer_needs_one_vector_per_input_and_comes_back_in_order():
    answer = {
        "data": [{"index": 1, "embedding": [0.1]}, {"index": 0, "embedding": ENCODED}],
        "usage": {"prompt_tokens": 2},
    }
    assert [i["index"] for i in openai.parse_embeddings(answer, 2)["data"]] == [0, 1]
    for malformed in ({"data": [{"index": 0, "embedding": [0.1]}]}, {"data": "x"}, []):
        with pytest.raises(UpstreamMalformed):
            openai.parse_embeddings(malformed, 2)
    with pytest.raises(UpstreamMalformed):
        openai.parse_embeddings({"data": [{"embedding": [0.1]}]}, 1)  # no index
