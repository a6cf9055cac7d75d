"""Guardrails and their key assignments in OpenRouter's shapes."""

import datetime as dt
from typing import Any

from veil.schemas.accounts import KeyRecord
from veil.schemas.guardrails import Guardrail, GuardrailRules, GuardrailView


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def guardrail_view(guardrail: Guardrail) -> dict[str, Any]:
    """One guardrail as OpenRouter answers it (its `workspace_id` is veil's account)."""
    rules = guardrail.model_dump(include=set(GuardrailRules.model_fields))
    view = GuardrailView(
        **rules,
        id=guardrail.id,
        workspace_id=guardrail.account_id,
        created_at=iso(guardrail.created_at) or "",
        updated_at=iso(guardrail.updated_at),
    )
    return view.model_dump()


def assignment_view(guardrail: Guardrail, key: KeyRecord) -> dict[str, Any]:
    """A guardrail's assignment to one key, as OpenRouter lists it."""
    assigned = guardrail.assigned_at.get(key.id, guardrail.created_at)
    return {
        "id": f"{guardrail.id}:{key.id}",
        "guardrail_id": guardrail.id,
        "key_hash": key.id,
        "key_name": key.name,
        "key_label": key.label,
        "assigned_by": guardrail.assigned_by.get(key.id),
        "created_at": iso(assigned),
    }
