"""The effective policy of each routed request, as a versioned snapshot, and the check
of past generations against the snapshot that routed them.

A snapshot is what decides where a request may go: the account's privacy settings, the
rules of the guardrails that held for the key, the request's own `provider`
constraints, and the catalog's version. Its hash goes on the routed request (and so on
the generation's row); the snapshot itself is published once per hash (again after an
hour, in case a publish was lost) and stored once by metrics.

The check replays `decide`, the function that routes, under the snapshot: the endpoint
a prompt reached must be eligible, or excluded for a reason that is not the data
policy's (a fallback that `allow_fallbacks` skipped, a price bound...). An exclusion by
the data policy, a provider list, a data region or a guardrail is a violation.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from veil.audit import policy_hash
from veil.catalog import CatalogIndex
from veil.policy.candidates import RoutedView, RoutingContext
from veil.policy.eligibility import PRIVACY_REASONS, decide
from veil.policy.guardrails import PREFIX as GUARDRAIL
from veil.schemas.accounts import PrivacySettings
from veil.schemas.audit import Exposure, ExposureCheck, PolicySnapshot
from veil.schemas.chat import ProviderPreferences, RoutingSummary
from veil.schemas.errors import VeilError
from veil.schemas.guardrails import Guardrail, GuardrailRules

log = logging.getLogger(__name__)

REPUBLISH_SECONDS = 3600.0
CACHED = 10_000  # base policies kept (per account, settings, guardrails and key)


def base_policy(ctx: RoutingContext) -> dict[str, Any]:
    """What the account and key contribute to the effective policy."""
    rules = set(GuardrailRules.model_fields)
    return {
        "settings": ctx.settings.model_dump(mode="json"),
        "guardrails": [
            {"id": g.id, "rules": g.model_dump(mode="json", include=rules)}
            for g in sorted(ctx.guardrails, key=lambda g: g.id)
        ],
        "catalog": ctx.index.version,
    }


class Snapshots:
    """The policy hash of each request, and the publishing of snapshots not sent yet."""

    def __init__(self, publish: Callable[[PolicySnapshot], Awaitable[bool]]):
        self.publish = publish
        # The base policy per cache key, and its hash without request constraints (most
        # requests set none: their hash is this one, computed once).
        self._bases: dict[tuple[object, ...], tuple[dict[str, Any], str]] = {}
        self._sent: dict[str, float] = {}  # hash -> when it was last published
        self._tasks: set[asyncio.Task[None]] = set()

    def hash_for(
        self, cache_key: tuple[object, ...], ctx: RoutingContext, request: RoutedView
    ) -> str:
        """`cache_key` changes whenever the account's settings or guardrails do."""
        found = self._bases.get(cache_key)
        if found is None:
            if len(self._bases) >= CACHED:
                self._bases.clear()
            base = {**base_policy(ctx), "request": None}
            found = self._bases[cache_key] = (base, policy_hash(base))
        base, digest = found
        prefs = request.provider
        if prefs is not None:
            policy = {**base, "request": prefs.model_dump(mode="json", exclude_none=True)}
            digest = policy_hash(policy)
        else:
            policy = base
        now = time.monotonic()
        if now - self._sent.get(digest, -REPUBLISH_SECONDS) >= REPUBLISH_SECONDS:
            self._sent[digest] = now
            task = asyncio.create_task(self._publish(digest, policy))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return digest

    async def _publish(self, digest: str, policy: dict[str, Any]) -> None:
        snapshot = PolicySnapshot(hash=digest, created_at=time.time(), policy=policy)
        try:
            published = await self.publish(snapshot)
        except Exception:
            log.exception("could not publish policy snapshot %s", digest)
            published = False
        if not published:
            self._sent.pop(digest, None)  # the next request with it tries again


def _context(index: CatalogIndex, policy: dict[str, Any]) -> RoutingContext:
    guardrails = tuple(
        Guardrail(**g["rules"], id=g["id"], account_id="", created_at=0.0)
        for g in policy.get("guardrails") or ()
    )
    return RoutingContext(
        index=index,
        settings=PrivacySettings.model_validate(policy["settings"]),
        guardrails=guardrails,
    )


def _policy_reasons(reasons: list[str]) -> list[str]:
    return [r for r in reasons if r in PRIVACY_REASONS or r.startswith(GUARDRAIL)]


def check_exposure(
    index: CatalogIndex, exposure: Exposure, policy: dict[str, Any] | None
) -> ExposureCheck:
    """Was `exposure`'s endpoint one its policy allowed?"""

    def verdict(kind: str, *reasons: str, changed: bool = False) -> ExposureCheck:
        return ExposureCheck(
            policy_hash=exposure.policy_hash,
            model=exposure.model,
            provider=exposure.provider,
            verdict=kind,  # type: ignore[arg-type]
            reasons=list(reasons),
            catalog_changed=changed,
        )

    if exposure.provider not in index.providers:
        return verdict("violation", f"provider {exposure.provider} is not in the catalog")
    if not exposure.policy_hash:
        return verdict("unverifiable", "the generations record no policy")
    if policy is None:
        return verdict("unverifiable", "the policy snapshot was never stored")
    changed = policy.get("catalog") != index.version
    model = index.models.get(exposure.model)
    if model is None:
        return verdict("unverifiable", f"model {exposure.model} is not in the catalog")
    if (exposure.model, exposure.provider) not in index.endpoints:
        return verdict(
            "violation", f"the catalog lists no endpoint of {exposure.model} at "
            f"{exposure.provider}", changed=changed,
        )  # fmt: skip
    request = RoutingSummary(
        model=exposure.model,
        provider=ProviderPreferences.model_validate(policy["request"])
        if policy.get("request")
        else None,
        api_type="embeddings" if model.is_embedding else "completions",
    )
    try:
        decision = decide(request, _context(index, policy))
    except VeilError as exc:
        return verdict("unverifiable", f"the policy no longer applies: {exc.message}")
    if any(c.provider.slug == exposure.provider for c in decision.eligible):
        return verdict("allowed", changed=changed)
    for candidate, reasons in decision.excluded:
        if candidate.provider.slug == exposure.provider:
            policy_reasons = _policy_reasons(reasons)
            if policy_reasons:
                return verdict("violation", *policy_reasons, changed=changed)
            return verdict("allowed", changed=changed)
    return verdict("violation", "routing did not consider this endpoint", changed=changed)
