"""The audit trail's hash chain: what verification finds when a row is edited, deleted,
repeated or the whole chain rewritten, and the encoding it rests on."""

import pytest

from veil.audit import GENESIS, canonical, chained, policy_hash, values_text, verify_chain
from veil.schemas.audit import AuditEvent

ACCOUNT = "acct-1"


def chain(length: int) -> list[AuditEvent]:
    events, previous = [], GENESIS
    for seq in range(1, length + 1):
        event = chained(
            {
                "account_id": ACCOUNT,
                "seq": seq,
                "at_us": 1_700_000_000_000_000 + seq,
                "actor": "key-abc",
                "action": "privacy.update",
                "target": "",
                "before": values_text({"enforce_zdr": seq % 2 == 0}),
                "after": values_text({"enforce_zdr": seq % 2 == 1}),
            },
            previous,
        )
        events.append(event)
        previous = event.hash
    return events


def head(events: list[AuditEvent]) -> tuple[int, str]:
    return events[-1].seq, events[-1].hash


def test_an_untouched_chain_verifies_to_its_recorded_head():
    events = chain(5)
    assert events[0].prev_hash == GENESIS
    checked = verify_chain(ACCOUNT, events, head(events))
    assert (checked.ok, checked.events, checked.first_break) == (True, 5, None)


def test_an_edited_row_is_named():
    events = chain(5)
    events[2] = events[2].model_copy(update={"after": values_text({"enforce_zdr": False})})
    checked = verify_chain(ACCOUNT, events, head(chain(5)))
    assert not checked.ok
    assert checked.first_break is not None
    assert (checked.first_break.seq, "edited" in checked.first_break.reason) == (3, True)


@pytest.mark.parametrize("field", ["actor", "action", "target", "at_us"])
def test_every_hashed_field_is_covered(field):
    events = chain(2)
    value = 1 if field == "at_us" else "forged"
    events[1] = events[1].model_copy(update={field: value})
    assert verify_chain(ACCOUNT, events, None).first_break.seq == 2


def test_a_deleted_row_leaves_a_gap():
    events = chain(5)
    del events[1]
    checked = verify_chain(ACCOUNT, events, head(chain(5)))
    assert checked.first_break.seq == 2
    assert "missing" in checked.first_break.reason


def test_a_deleted_last_row_is_found_by_the_head():
    events = chain(5)
    checked = verify_chain(ACCOUNT, events[:-1], head(events))
    assert checked.first_break.seq == 5
    assert "missing" in checked.first_break.reason


def test_a_rewritten_chain_ends_on_another_hash_than_the_head():
    honest = chain(4)
    # Every hash recomputed after changing event 3: internally consistent...
    forged, previous = [], GENESIS
    for event in honest:
        fields = event.model_dump(exclude={"prev_hash", "hash"})
        if event.seq == 3:
            fields["after"] = values_text({"enforce_zdr": False})
        forged.append(chained(fields, previous))
        previous = forged[-1].hash
    assert verify_chain(ACCOUNT, forged, None).ok
    # ... but not what the gateway recorded as the head.
    checked = verify_chain(ACCOUNT, forged, head(honest))
    assert not checked.ok
    assert "recorded" in checked.first_break.reason


def test_a_spliced_row_does_not_follow_its_predecessor():
    events = chain(3)
    other = chain(3)
    other_row = other[1].model_copy(update={"prev_hash": "f" * 64})
    events[1] = chained(other_row.model_dump(exclude={"prev_hash", "hash"}), "f" * 64)
    assert "prev_hash" in verify_chain(ACCOUNT, events, None).first_break.reason


def test_the_encoding_is_canonical():
    assert (
        canonical({"b": 1, "a": [2, {"d": None, "c": "x"}]})
        == b'{"a":[2,{"c":"x","d":null}],"b":1}'
    )
    assert values_text(None) == ""
    assert policy_hash({"x": 1, "y": 2}) == policy_hash({"y": 2, "x": 1})
    assert policy_hash({"x": 1}) != policy_hash({"x": 2})
