"""The audit trail's hash chain, and the policy hash of a generation.

Each account's audit events form a chain: event n carries the hash of event n-1
(`prev_hash`; the first carries GENESIS), and its own `hash` is SHA-256 over the
canonical encoding of every other field. A row edited afterwards no longer matches its
hash; a row deleted leaves a gap in `seq` and a `prev_hash` that matches nothing; a
chain rewritten from some row on ends on a hash other than the head the gateway kept
in NATS (`KV veil_audit_heads`), which the verification compares too.

The canonical encoding is JSON with sorted keys and no spaces (orjson, `OPT_SORT_KEYS`)
of the fields as stored: integers for sequence and time (microseconds), and the before
and after values already as canonical JSON text, so what ClickHouse gives back hashes
exactly as what was written.
"""

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import BaseModel

from veil.schemas.audit import AuditEvent, ChainBreak, ChainCheck

GENESIS = "0" * 64
HASHED_FIELDS = ("account_id", "seq", "at_us", "actor", "action", "target", "before", "after")


def canonical(value: Any) -> bytes:
    """JSON with sorted keys and no whitespace: one encoding per value."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def values_text(values: BaseModel | dict[str, Any] | None) -> str:
    """Before or after values as the canonical JSON an event stores ('' for none)."""
    if values is None:
        return ""
    if isinstance(values, BaseModel):
        values = values.model_dump(mode="json")
    return canonical(values).decode()


def event_hash(fields: dict[str, Any], prev_hash: str) -> str:
    covered = {name: fields[name] for name in HASHED_FIELDS}
    covered["prev_hash"] = prev_hash
    return hashlib.sha256(canonical(covered)).hexdigest()


def chained(fields: dict[str, Any], prev_hash: str) -> AuditEvent:
    """The event of `fields` (HASHED_FIELDS) following the event whose hash is `prev_hash`."""
    return AuditEvent(**fields, prev_hash=prev_hash, hash=event_hash(fields, prev_hash))


def verify_chain(
    account_id: str, events: Iterable[AuditEvent], head: tuple[int, str] | None
) -> ChainCheck:
    """Walk one account's events in `seq` order: the first that does not verify, or
    the chain's end not matching `head` ((seq, hash) the gateway last recorded)."""
    expected_prev, expected_seq, count = GENESIS, 1, 0

    def broken(seq: int, reason: str) -> ChainCheck:
        return ChainCheck(
            account_id=account_id,
            events=count,
            ok=False,
            first_break=ChainBreak(account_id=account_id, seq=seq, reason=reason),
        )

    for event in events:
        count += 1
        if event.seq != expected_seq:
            what = "missing" if event.seq > expected_seq else "repeated"
            return broken(expected_seq, f"event {expected_seq} is {what} (found {event.seq})")
        if event.prev_hash != expected_prev:
            return broken(event.seq, "its prev_hash is not the previous event's hash")
        if event_hash(event.model_dump(), event.prev_hash) != event.hash:
            return broken(event.seq, "its content does not match its hash (edited)")
        expected_prev, expected_seq = event.hash, event.seq + 1
    if head is not None:
        seq, tip = head
        if seq >= expected_seq:
            return broken(expected_seq, f"events {expected_seq}..{seq} are missing")
        if seq == expected_seq - 1 and tip != expected_prev:
            return broken(seq, "the chain ends on another hash than the one recorded")
    return ChainCheck(account_id=account_id, events=count, ok=True)


def policy_hash(policy: dict[str, Any]) -> str:
    """The version of an effective policy: SHA-256 of its canonical encoding."""
    return hashlib.sha256(canonical(policy)).hexdigest()
