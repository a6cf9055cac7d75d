"""Framed hot-path messages: a contract header, a newline, then body bytes left untouched."""

import orjson
import pytest
from pydantic import ValidationError

from veil.bus import pack, unpack
from veil.schemas.chat import RoutingSummary
from veil.schemas.errors import ErrorBody
from veil.schemas.messages import ReplyHeader, RequestEnvelope, RoutedEndpoint, RoutedRequest


def envelope(**routing) -> RequestEnvelope:
    return RequestEnvelope(
        generation_id="gen-1-abc",
        account_id="acct-1",
        key_id="key-1",
        reply_subject="veil.reply.gw1",
        received_at=1700000000.5,
        settings_revision=7,
        routing=RoutingSummary(model="acme/large", **routing),
    )


def test_the_body_comes_back_byte_for_byte_whatever_it_holds():
    body = orjson.dumps({"messages": [{"role": "user", "content": "two\nlines"}]})
    body += b"\n\n\x00\xff trailing bytes\n"  # raw newlines and non-JSON: never parsed
    header, unpacked = unpack(pack(envelope(stream=True), body), RequestEnvelope)
    assert bytes(unpacked) == body
    assert header == envelope(stream=True)


def test_a_newline_inside_the_header_does_not_end_it():
    error = ErrorBody(code=400, message="line one\nline two", metadata={"raw": "a\nb"})
    framed = pack(ReplyHeader(kind="error", generation_id="gen-1", error=error))
    header, body = unpack(framed, ReplyHeader)
    assert header.error == error
    assert bytes(body) == b""


def test_a_forwarded_body_is_a_view_not_a_copy():
    body = b'{"model": "acme/large", "messages": []}'
    framed = pack(envelope(), body)
    first, view = unpack(framed, RequestEnvelope)
    assert view.obj is framed  # the policy passes this on without copying it first
    routed = RoutedRequest(envelope=first, endpoints=[RoutedEndpoint(model="m", provider="p")])
    again, forwarded = unpack(pack(routed, view), RoutedRequest)
    assert bytes(forwarded) == body
    assert again.envelope == first


def test_a_header_without_a_body_needs_no_newline():
    framed = ReplyHeader(kind="accepted", generation_id="gen-1").model_dump_json().encode()
    header, body = unpack(framed, ReplyHeader)
    assert header.kind == "accepted"
    assert bytes(body) == b""


def test_defaults_are_left_out_of_the_header_and_restored():
    framed = pack(ReplyHeader(kind="chunk", generation_id="gen-1", seq=3), b"{}")
    assert framed == b'{"kind":"chunk","generation_id":"gen-1","seq":3}\n{}'
    header, _ = unpack(framed, ReplyHeader)
    assert (header.provider, header.logged, header.error) == ("", False, None)


def test_an_undecodable_header_is_a_validation_error():
    with pytest.raises(ValidationError):
        unpack(b'{"kind": "unknown"}\n{}', ReplyHeader)
    with pytest.raises(ValidationError):
        unpack(b'{"model": "acme/large", "messages": []}', RequestEnvelope)  # an unframed body
