"""The gateway records every change to what governs an account as an audit event.

Only the gateway changes accounts, keys, privacy settings and guardrails, so it is the
audit trail's one writer. Each account's chain head ((seq, hash) of its last event) is
in NATS KV (`veil_audit_heads`); a gateway takes the next place in the chain with a
compare-and-set on it, so replicas writing at once still make one unbroken chain. The
event then waits in the gateway's outbox for JetStream, from which metrics stores it
(`audit_events`). The change is made first, then recorded: a gateway killed between the
two loses that one event, and `veil audit verify` reports the chain's head ahead of its
rows rather than nothing.
"""

import time

import orjson
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel

from veil.audit import GENESIS, canonical, chained, values_text
from veil.gateway.auth import AdminCaller, Caller
from veil.outbox import Outbox
from veil.schemas import subjects
from veil.schemas.audit import AuditEvent
from veil.schemas.guardrails import GuardrailRules


def actor_of(who: Caller) -> str:
    return "admin" if isinstance(who, AdminCaller) else who.key_id


class AuditTrail:
    def __init__(self, heads: KeyValue, outbox: Outbox):
        self.heads = heads
        self.outbox = outbox

    async def record(
        self,
        account: str,
        who: Caller | str,
        action: str,
        target: str = "",
        before: BaseModel | dict | None = None,
        after: BaseModel | dict | None = None,
    ) -> AuditEvent:
        """Chain and queue one event (`who`: the caller, or an actor's name)."""
        fields = {
            "account_id": account,
            "at_us": time.time_ns() // 1000,
            "actor": who if isinstance(who, str) else actor_of(who),
            "action": action,
            "target": target,
            "before": values_text(before),
            "after": values_text(after),
        }
        while True:
            try:
                entry = await self.heads.get(account)
                head, last = orjson.loads(entry.value or b"{}"), entry.revision or 0
            except KeyNotFoundError:
                head, last = {}, 0
            seq = int(head.get("seq", 0)) + 1
            event = chained({**fields, "seq": seq}, head.get("hash", GENESIS))
            value = canonical({"seq": seq, "hash": event.hash})
            try:
                if last:
                    await self.heads.update(account, value, last=last)
                else:
                    await self.heads.create(account, value)
                break
            except KeyWrongLastSequenceError:
                continue  # another gateway took this place: take the next one
        queued = self.outbox.append(
            subjects.AUDIT, f"audit-{account}-{seq}", event.model_dump_json().encode()
        )
        await self.outbox.send(queued)
        return event


# What an audit event may say of a key: its settings, never the key or its label.
KEY_SETTINGS = {
    "name", "kind", "disabled", "limit", "limit_reset", "include_byok_in_limit",
    "expires_at", "rate_limit",
}  # fmt: skip


def key_settings(record: BaseModel) -> dict:
    return record.model_dump(mode="json", include=KEY_SETTINGS)


def changed(before: BaseModel | dict, after: BaseModel | dict) -> tuple[dict, dict]:
    """The fields whose values differ, before and after (JSON values)."""
    old = before.model_dump(mode="json") if isinstance(before, BaseModel) else before
    new = after.model_dump(mode="json") if isinstance(after, BaseModel) else after
    names = [name for name in new if old.get(name) != new[name]]
    return {n: old.get(n) for n in names}, {n: new[n] for n in names}


def key_action(before: dict, after: dict) -> str:
    """The name of a key's change: disabling and limits are named as such."""
    if "disabled" in after:
        return "key.disable" if after["disabled"] else "key.enable"
    if {"limit", "limit_reset"} & set(after):
        return "key.limit"
    return "key.update"


def guardrail_rules(guardrail: BaseModel) -> dict:
    """What an audit event says of a guardrail: its rules (not its assignments, which
    have events of their own)."""
    return guardrail.model_dump(mode="json", include=set(GuardrailRules.model_fields))
