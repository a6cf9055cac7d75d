"""The compliance report of one account over a period, composed from what metrics
stored (generations, exposures, snapshots, audit events and the chain's check) and
policy's check of each exposure against the snapshot that routed it. The gateway's
`GET /api/v1/compliance/report`, the console's printable page and `veil compliance
report` all make it here, so the three say the same."""

import datetime as dt
from typing import Any

import orjson

from veil.catalog import CatalogIndex
from veil.schemas.audit import AuditEvent, ComplianceData, ExposureCheck
from veil.schemas.errors import VeilError

DEFAULT_DAYS = 30

# The audit actions that change what routes an account's requests: its settings timeline.
POLICY_ACTIONS = ("privacy.", "prompt_logging.", "prompt_log.", "guardrail.")


def iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat().replace("+00:00", "Z")


def parse_moment(value: str, name: str) -> float:
    """Unix seconds from `2026-12-01`, `2026-12-01T10:00:00Z` or `1764547200`."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise VeilError(400, f"{name}: not a date, a time or unix seconds: {value!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def period(since: str | None, until: str | None, now: float) -> tuple[float, float]:
    """The period asked for: by default the last 30 days, up to now."""
    end = parse_moment(until, "to") if until else now
    start = parse_moment(since, "from") if since else end - DEFAULT_DAYS * 86400
    if start >= end:
        raise VeilError(400, "from must be before to")
    return start, end


def _values(text: str) -> Any:
    return orjson.loads(text) if text else None


def event_view(event: AuditEvent) -> dict[str, Any]:
    """An audit event as the API shows it: times in ISO 8601, values as JSON."""
    return {
        "seq": event.seq,
        "at": iso(event.at_us / 1e6),
        "actor": event.actor,
        "action": event.action,
        "target": event.target or None,
        "before": _values(event.before),
        "after": _values(event.after),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _provider_rows(index: CatalogIndex, by_provider: dict[str, int]) -> list[dict[str, Any]]:
    rows = []
    for slug, count in sorted(by_provider.items(), key=lambda item: (-item[1], item[0])):
        provider = index.providers.get(slug)
        rows.append(
            {
                "provider": slug or None,
                "name": provider.name if provider else (slug or "none"),
                "generations": count,
                "data_policy": provider.data_policy.model_dump() if provider else None,
            }
        )
    return rows


def _by_data_policy(providers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, int] = {}
    for row in providers:
        policy = row["data_policy"]
        if policy is None:
            continue
        group = (policy["training"], policy["retains_prompts"], policy["retention_days"])
        groups[group] = groups.get(group, 0) + row["generations"]
    return [
        {"training": t, "retains_prompts": r, "retention_days": d, "generations": n}
        for (t, r, d), n in sorted(groups.items(), key=lambda item: -item[1])
    ]


def report(
    index: CatalogIndex,
    account_id: str,
    since: float,
    until: float,
    data: ComplianceData,
    checks: list[ExposureCheck],
    now: float,
) -> dict[str, Any]:
    exposures = {(e.policy_hash, e.model, e.provider): e for e in data.exposures}

    def listed(kind: str) -> list[dict[str, Any]]:
        rows = []
        for check in checks:
            if check.verdict != kind:
                continue
            exposure = exposures[(check.policy_hash, check.model, check.provider)]
            rows.append(
                {
                    "model": check.model,
                    "provider": check.provider,
                    "policy_hash": check.policy_hash or None,
                    "generations": exposure.generations,
                    "generation_ids": exposure.generation_ids,
                    "reasons": check.reasons,
                    "catalog_changed": check.catalog_changed,
                }
            )
        return rows

    violations, unverifiable = listed("violation"), listed("unverifiable")
    providers = _provider_rows(index, data.by_provider)
    chain = data.chain
    intact = chain is None or chain.ok
    if violations:
        verdict = "violations found"
    elif not intact:
        verdict = "audit chain broken"
    elif unverifiable:
        verdict = "compliant where verifiable"
    else:
        verdict = "compliant"
    timeline = [event_view(e) for e in data.audit if e.action.startswith(POLICY_ACTIONS)]
    return {
        "account_id": account_id,
        "from": iso(since),
        "to": iso(until),
        "generated_at": iso(now),
        "catalog_version": index.version,
        "summary": {
            "verdict": verdict,
            "generations": data.generations,
            "endpoints_checked": len(checks),
            "generations_checked": sum(e.generations for e in data.exposures),
            "violations": sum(v["generations"] for v in violations),
            "unverifiable": sum(u["generations"] for u in unverifiable),
            "audit_events": len(data.audit),
            "audit_chain_intact": intact,
        },
        "generations": {
            "total": data.generations,
            "by_provider": providers,
            "by_data_policy": _by_data_policy(providers),
        },
        "violations": violations,
        "unverifiable": unverifiable,
        "audit_chain": chain.model_dump() if chain else None,
        "settings_timeline": timeline,
    }
