"""The error a client gets when every routed endpoint failed."""

from veil.dispatcher.generation import final_error
from veil.schemas.messages import ProviderAttempt


def attempt(provider: str, status: int | None, error: str | None) -> ProviderAttempt:
    return ProviderAttempt(
        model="acme/large", provider=provider, status=status, error=error, latency_ms=12.5
    )


def test_every_provider_rate_limiting_is_a_429():
    attempts = [
        attempt("acme", 429, "upstream answered 429"),
        attempt("bolt", 429, "upstream answered 429: slow down"),
    ]
    error = final_error(attempts)
    assert error.code == 429
    assert "rate limit" in error.message.lower()
    assert [r["provider"] for r in error.metadata["provider_responses"]] == ["acme", "bolt"]


def test_every_provider_timing_out_is_a_408():
    error = final_error([attempt("acme", None, "timeout"), attempt("bolt", None, "timeout")])
    assert error.code == 408
    assert "timed out" in error.message
    assert len(error.metadata["provider_responses"]) == 2


def test_mixed_failures_are_a_502_listing_each_provider_response():
    attempts = [
        attempt("acme", 429, "upstream answered 429"),
        attempt("bolt", None, "timeout"),
        attempt("crux", 503, "upstream answered 503: overloaded"),
        attempt("dyne", None, "ConnectError: connection refused"),
    ]
    error = final_error(attempts)

    assert error.code == 502
    responses = error.metadata["provider_responses"]
    assert [(r["provider"], r["status"], r["error"]) for r in responses] == [
        ("acme", 429, "upstream answered 429"),
        ("bolt", None, "timeout"),
        ("crux", 503, "upstream answered 503: overloaded"),
        ("dyne", None, "ConnectError: connection refused"),
    ]
    assert responses[0]["latency_ms"] == 12.5


def test_server_errors_alone_are_a_502():
    error = final_error([attempt("acme", 500, "upstream answered 500")])
    assert error.code == 502


def test_no_attempt_at_all_is_a_502_not_a_timeout():
    error = final_error([])
    assert error.code == 502
    assert error.metadata == {"provider_responses": []}


def test_a_rate_limit_carries_the_upstream_retry_after():
    error = final_error([attempt("acme", 429, "rate_limited")], retry_after=7.0)
    assert error.metadata["retry_after"] == 7.0
    assert "retry_after" not in final_error([attempt("acme", 500, "http_error")], 7.0).metadata
