"""Policy snapshots and the compliance check: a request's policy hash follows exactly
what decides its routing, each snapshot is published once, and a past exposure is
judged by routing's own decision under the snapshot that routed it."""

import asyncio
import time

import pytest

from veil.policy.candidates import RoutingContext
from veil.policy.compliance import Snapshots, base_policy, check_exposure
from veil.schemas.accounts import PrivacySettings
from veil.schemas.audit import Exposure, PolicySnapshot
from veil.schemas.guardrails import Guardrail

from .catalog_builders import endpoint, index, model, provider, request

CATALOG = index(
    [
        provider("private", training=False, retains=False),
        provider("keeper", training=False, retains=True, retention_days=30),
        provider("trainer", training=True, retains=True),
    ],
    [model("acme/chat", endpoint("private"), endpoint("keeper"), endpoint("trainer"))],
)


def ctx(settings: PrivacySettings | None = None, *guardrails: Guardrail) -> RoutingContext:
    return RoutingContext(
        index=CATALOG, settings=settings or PrivacySettings(), guardrails=guardrails
    )


def guardrail(**rules) -> Guardrail:
    return Guardrail(name="g", **rules, id="gr-1", account_id="acct-1", created_at=time.time())


class Published:
    def __init__(self, answers: list[bool] | None = None):
        self.snapshots: list[PolicySnapshot] = []
        self.answers = answers or []

    async def __call__(self, snapshot: PolicySnapshot) -> bool:
        self.snapshots.append(snapshot)
        return self.answers.pop(0) if self.answers else True


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_the_hash_follows_what_decides_routing_and_each_snapshot_is_published_once():
    published = Published()
    snapshots = Snapshots(published)
    plain = snapshots.hash_for(("a", 1), ctx(), request("acme/chat"))
    assert snapshots.hash_for(("a", 1), ctx(), request("acme/chat")) == plain
    zdr = snapshots.hash_for(("a", 2), ctx(PrivacySettings(enforce_zdr=True)), request("acme/chat"))
    asked = snapshots.hash_for(("a", 1), ctx(), request("acme/chat", provider={"zdr": True}))
    guarded = snapshots.hash_for(
        ("a", 3), ctx(None, guardrail(ignored_providers=["keeper"])), request("acme/chat")
    )
    assert len({plain, zdr, asked, guarded}) == 4
    await settle()
    assert [s.hash for s in published.snapshots] == [plain, zdr, asked, guarded]
    snapshot = published.snapshots[2].policy
    assert snapshot["request"]["zdr"] is True
    assert snapshot["catalog"] == CATALOG.version
    assert "acct" not in str(published.snapshots[0].policy)  # no account in a snapshot


async def test_a_snapshot_whose_publish_failed_is_published_again():
    published = Published(answers=[False, True])
    snapshots = Snapshots(published)
    first = snapshots.hash_for(("a", 1), ctx(), request("acme/chat"))
    await settle()
    snapshots.hash_for(("a", 1), ctx(), request("acme/chat"))
    await settle()
    assert [s.hash for s in published.snapshots] == [first, first]


def exposure(provider_slug: str, policy_hash: str = "h") -> Exposure:
    return Exposure(
        policy_hash=policy_hash,
        model="acme/chat",
        provider=provider_slug,
        generations=3,
        generation_ids=["gen-1"],
    )


def policy(settings: PrivacySettings | None = None, *guardrails: Guardrail, **prefs) -> dict:
    return {**base_policy(ctx(settings, *guardrails)), "request": prefs or None}


@pytest.mark.parametrize(
    ("reached", "snapshot", "verdict", "reasons"),
    [
        ("private", policy(), "allowed", []),
        ("keeper", policy(), "allowed", []),
        ("trainer", policy(), "violation", ["data_policy:training"]),
        ("keeper", policy(PrivacySettings(enforce_zdr=True)), "violation", ["data_policy:zdr"]),
        ("keeper", policy(zdr=True), "violation", ["data_policy:zdr"]),
        ("keeper", policy(None, guardrail(ignored_providers=["keeper"])), "violation",
         ["guardrail:gr-1:ignored_providers"]),
        # skipped because allow_fallbacks was false: not the data policy's doing
        ("keeper", policy(order=["private"], allow_fallbacks=False), "allowed", []),
        ("nowhere", policy(), "violation", ["provider nowhere is not in the catalog"]),
    ],
)  # fmt: skip
def test_an_exposure_is_judged_by_routing_under_its_snapshot(reached, snapshot, verdict, reasons):
    checked = check_exposure(CATALOG, exposure(reached), snapshot)
    assert (checked.verdict, checked.reasons) == (verdict, reasons)
    assert checked.catalog_changed is False


def test_what_cannot_be_checked_is_unverifiable_not_compliant():
    assert check_exposure(CATALOG, exposure("private", ""), None).verdict == "unverifiable"
    missing = check_exposure(CATALOG, exposure("private"), None)
    assert (missing.verdict, missing.reasons) == (
        "unverifiable",
        ["the policy snapshot was never stored"],
    )


def test_a_changed_catalog_is_said():
    old = {**policy(), "catalog": "an older catalog"}
    assert check_exposure(CATALOG, exposure("private"), old).catalog_changed is True
