"""What the compliance and audit trail pages show, shaped from `GET /compliance/report`
and `GET /audit` by plain functions (no I/O). Every number is the API's: these only put
it in words (data policies, routing reasons, the verdict) and pick what a row shows."""

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from veil.gateway.console.views import reason_text

DEFAULT_DAYS = 30  # the report's period when the form names none
SHOWN_IDS = 5  # generation ids linked per violation row (the API gives up to 100)
HASH_SHOWN = 12  # hex digits of a hash shown (the full one is in the title)
LONG_ID = 24  # an id longer than this (a key's id is a hash) is shortened like a hash

# Each verdict the API gives: its tone (a CSS class) and what it means, in a sentence.
VERDICTS = {
    "compliant": (
        "ok",
        "Every endpoint a prompt reached in the period was one the policy that routed it "
        "allowed, and the audit trail verifies.",
    ),
    "compliant where verifiable": (
        "warn",
        "No violation was found, but some generations could not be checked (listed "
        "under Unverifiable): they are not assumed compliant.",
    ),
    "violations found": (
        "bad",
        "Some prompts reached an endpoint the policy that routed them excluded (listed "
        "under Violations).",
    ),
    "audit chain broken": (
        "bad",
        "The audit trail does not verify: the account's changes in the period cannot be "
        "proven (see Audit chain).",
    ),
}


@dataclass
class Period:
    """The report form's dates (inclusive, UTC) and the API's period they make."""

    start: str  # the form's `from` (YYYY-MM-DD)
    end: str  # the form's `to`, inclusive
    params: dict[str, str] = field(default_factory=dict)  # GET /compliance/report's
    error: str | None = None


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: not a date (YYYY-MM-DD): {value!r}") from None


def report_period(since: str, until: str, today: dt.date) -> Period:
    """The period of the form's `from` and `to` dates, both inclusive: from the start of
    `from` to the end of `to` (the API's `to` is the next midnight, exclusive). Blank
    `to` is today; blank `from` is 30 days before `to`."""
    since, until = since.strip(), until.strip()
    try:
        end = _date(until, "to") if until else today
        start = _date(since, "from") if since else end - dt.timedelta(days=DEFAULT_DAYS)
    except ValueError as exc:
        return Period(since, until, error=str(exc))
    if start > end:
        return Period(since, until, error="from must be on or before to")
    params = {"from": start.isoformat(), "to": (end + dt.timedelta(days=1)).isoformat()}
    return Period(start.isoformat(), end.isoformat(), params)


def policy_sentence(policy: dict[str, Any] | None) -> str:
    """A data policy in words: "does not train on prompts; keeps prompts 30 days"."""
    if policy is None:
        return "unknown (not in the catalog)"
    training = {
        True: "may train on prompts",
        False: "does not train on prompts",
        None: "may train on prompts (its terms do not say)",
    }[policy.get("training")]
    retains, days = policy.get("retains_prompts"), policy.get("retention_days")
    if retains is False:
        retention = "keeps no prompts (zero retention)"
    elif retains is None:
        retention = "may keep prompts (its terms do not say)"
    elif days:
        retention = f"keeps prompts {days} day{'s' if days != 1 else ''}"
    else:
        retention = "keeps prompts (for how long is not known)"
    return f"{training}; {retention}"


def compact_json(value: Any) -> str:
    """An audit value on one line ("—" for none)."""
    if value is None:
        return "—"
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def short_hash(value: str | None) -> str:
    if not value:
        return "—"
    return value[:HASH_SHOWN] + "…" if len(value) > HASH_SHOWN else value


def short_id(value: str | None) -> str:
    """A key id (a hash) shortened; a short id (`admin`, a guardrail's) as it is."""
    if value and len(value) > LONG_ID:
        return short_hash(value)
    return value or "—"


@dataclass
class EventRow:
    """One audit event as the pages list it."""

    seq: int
    at: str  # ISO 8601, as the API gives it
    actor: str  # the key id, or "admin"
    actor_short: str
    actor_name: str  # the key's name when the account still has it ("" otherwise)
    action: str
    target: str | None
    target_short: str
    target_name: str
    before: str  # compact JSON
    after: str
    hash: str
    hash_short: str
    prev_hash: str


def key_names(keys: list[dict[str, Any]]) -> dict[str, str]:
    """GET /keys as {key id: "name (label)"}, and the admin key's id in words."""
    names = {"admin": "the admin key"}
    for key in keys:
        label = key.get("label")
        names[key["hash"]] = f"{key['name']} ({label})" if label else key["name"]
    return names


def event_rows(events: list[dict[str, Any]], names: dict[str, str]) -> list[EventRow]:
    """Audit events (GET /audit's, or the report's settings timeline), in their order;
    `names` is `key_names`: who made each change, and which key it changed."""
    return [
        EventRow(
            seq=event["seq"],
            at=event["at"],
            actor=event["actor"],
            actor_short=short_id(event["actor"]),
            actor_name=names.get(event["actor"], ""),
            action=event["action"],
            target=event.get("target"),
            target_short=short_id(event.get("target")),
            target_name=names.get(event.get("target") or "", ""),
            before=compact_json(event.get("before")),
            after=compact_json(event.get("after")),
            hash=event.get("hash") or "",
            hash_short=short_hash(event.get("hash")),
            prev_hash=event.get("prev_hash") or "",
        )
        for event in events
    ]


@dataclass
class ProviderLine:
    provider: str | None
    name: str
    generations: int
    policy: str  # in words


@dataclass
class PolicyLine:
    policy: str  # in words
    generations: int


@dataclass
class ExposureRow:
    """One endpoint of the violations or the unverifiable list."""

    model: str
    provider: str
    provider_name: str
    generations: int
    reasons: list[str]  # in words
    shown_ids: list[str]  # the first generation ids, linked
    more_ids: int  # generations not linked
    policy_hash: str | None
    policy_hash_short: str
    catalog_changed: bool


@dataclass
class ChainState:
    intact: bool
    text: str
    break_seq: int | None = None
    break_reason: str | None = None


@dataclass
class ReportView:
    """The report as the page shows it; `report` is the API's, unchanged."""

    report: dict[str, Any]
    verdict: str
    tone: str  # ok | warn | bad
    meaning: str
    providers: list[ProviderLine]
    policies: list[PolicyLine]
    unattributed: int  # generations in no data policy row (no provider, or not in the catalog)
    violations: list[ExposureRow]
    unverifiable: list[ExposureRow]
    chain: ChainState
    timeline: list[EventRow]


def exposure_rows(
    rows: list[dict[str, Any]], provider_names: dict[str, str], guardrail_names: dict[str, str]
) -> list[ExposureRow]:
    """The report's violations (or unverifiable endpoints), each reason in the words the
    console already has for routing's reasons (the checks' own sentences as they are)."""
    shown = []
    for row in rows:
        ids = list(row.get("generation_ids") or [])[:SHOWN_IDS]
        shown.append(
            ExposureRow(
                model=row["model"],
                provider=row["provider"],
                provider_name=provider_names.get(row["provider"]) or row["provider"],
                generations=row["generations"],
                reasons=[reason_text(r, guardrail_names) for r in row.get("reasons") or []],
                shown_ids=ids,
                more_ids=max(row["generations"] - len(ids), 0),
                policy_hash=row.get("policy_hash"),
                policy_hash_short=short_hash(row.get("policy_hash")),
                catalog_changed=bool(row.get("catalog_changed")),
            )
        )
    return shown


def chain_state(chain: dict[str, Any] | None) -> ChainState:
    """The account's audit chain as the report verified it."""
    if chain is None:
        return ChainState(True, "intact: the account has no audit events yet")
    events = chain.get("events", 0)
    counted = f"{events} event{'s' if events != 1 else ''}"
    if chain.get("ok"):
        return ChainState(True, f"intact: all {counted} verify, in order, up to the head")
    broken = chain.get("first_break") or {}
    seq, reason = broken.get("seq"), broken.get("reason") or "unknown"
    return ChainState(False, f"broken at event {seq}: {reason} ({counted} stored)", seq, reason)


def report_view(
    report: dict[str, Any],
    provider_names: dict[str, str],
    guardrail_names: dict[str, str],
    names: dict[str, str],
) -> ReportView:
    """`provider_names` from GET /providers (an endpoint tried but not served is not in
    the report's providers), `guardrail_names` from GET /guardrails, `names` is
    `key_names` (who made each change)."""
    verdict = report["summary"]["verdict"]
    tone, meaning = VERDICTS.get(verdict, ("bad", ""))
    generations = report["generations"]
    providers = [
        ProviderLine(
            provider=row.get("provider"),
            name=row["name"] if row.get("provider") else "no provider",
            generations=row["generations"],
            policy=policy_sentence(row.get("data_policy"))
            if row.get("provider")
            else "no provider answered (blocked, or every attempt failed)",
        )
        for row in generations["by_provider"]
    ]
    policies = [
        PolicyLine(policy_sentence(row), row["generations"])
        for row in generations["by_data_policy"]
    ]
    attributed = sum(p.generations for p in policies)
    names_known = {**{r["provider"]: r["name"] for r in generations["by_provider"]
                      if r.get("provider")}, **provider_names}  # fmt: skip
    return ReportView(
        report=report,
        verdict=verdict,
        tone=tone,
        meaning=meaning,
        providers=providers,
        policies=policies,
        unattributed=max(generations["total"] - attributed, 0),
        violations=exposure_rows(report["violations"], names_known, guardrail_names),
        unverifiable=exposure_rows(report["unverifiable"], names_known, guardrail_names),
        chain=chain_state(report.get("audit_chain")),
        timeline=event_rows(report["settings_timeline"], names),
    )
