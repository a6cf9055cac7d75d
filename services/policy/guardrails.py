"""Guardrails in routing: which apply to a key, what each excludes, and what they come to
together with the account's settings.

A guardrail is a set of conditions an endpoint must meet, each named by the guardrail
that sets it (`guardrail:<id>:<rule>` in explain and in the 404): routing checks every
one, so no guardrail, and no combination of them, can let through an endpoint that the
account's settings or another guardrail exclude. `combine` states the same as one policy
(allowlists intersect, ignore-lists unite, restricting booleans are OR-ed, budgets each
hold on their own), for people and for the property test that holds the two together.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from veil.policy.candidates import Candidate, datacenters, within
from veil.schemas.accounts import PrivacySettings
from veil.schemas.guardrails import AppliedFilter, Guardrail, GuardrailInterval
from veil.sensitive.detectors import builtin
from veil.sensitive.scanner import placeholder_label

PREFIX = "guardrail:"


def reason(guardrail: Guardrail, rule: str) -> str:
    return f"{PREFIX}{guardrail.id}:{rule}"


def guardrail_reasons(
    candidate: Candidate,
    guardrails: Iterable[Guardrail],
    regions: Mapping[str, tuple[str, ...]] | None = None,
) -> list[str]:
    """Every rule of every guardrail that excludes this endpoint (`regions`: the catalog's
    named regions)."""
    reasons: list[str] = []
    slug = candidate.provider.slug
    model = candidate.model
    policy = candidate.provider.data_policy
    places = datacenters(candidate)
    for g in guardrails:
        if g.allowed_regions is not None:
            if places is None:
                reasons.append(reason(g, "region_unknown"))
            elif not any(within(places, (regions or {}).get(r, ())) for r in g.allowed_regions):
                reasons.append(reason(g, "allowed_regions"))
        if g.allowed_providers is not None and slug not in g.allowed_providers:
            reasons.append(reason(g, "allowed_providers"))
        if g.ignored_providers and slug in g.ignored_providers:
            reasons.append(reason(g, "ignored_providers"))
        if g.allowed_models is not None and model.id not in g.allowed_models:
            reasons.append(reason(g, "allowed_models"))
        if g.ignored_models and model.id in g.ignored_models:
            reasons.append(reason(g, "ignored_models"))
        if g.enforce_zdr and not policy.zero_retention:
            reasons.append(reason(g, "enforce_zdr"))
        training = g.enable_free_model_training if model.is_free else g.enable_paid_model_training
        if policy.may_train and training is False:
            rule = "enable_free_model_training" if model.is_free else "enable_paid_model_training"
            reasons.append(reason(g, rule))
    return reasons


@dataclass(frozen=True)
class Budget:
    guardrail_id: str
    limit_usd: float
    reset_interval: GuardrailInterval


@dataclass(frozen=True)
class CombinedPolicy:
    """What the account's settings and its guardrails allow, together."""

    allowed_providers: frozenset[str] | None  # None: any provider
    ignored_providers: frozenset[str]
    allowed_models: frozenset[str] | None  # None: any model
    ignored_models: frozenset[str]
    enforce_zdr: bool
    paid_model_training: bool
    free_model_training: bool
    budgets: tuple[Budget, ...]
    guardrail_ids: tuple[str, ...]
    # Each a rule an endpoint's datacenters must meet: within one of these country sets.
    regions: tuple[tuple[frozenset[str], ...], ...] = ()

    def allows(self, candidate: Candidate) -> bool:
        """Whether the settings and guardrails let this endpoint serve (the request's own
        constraints and the endpoint's fit aside)."""
        slug, model = candidate.provider.slug, candidate.model
        policy = candidate.provider.data_policy
        training = self.free_model_training if model.is_free else self.paid_model_training
        places = datacenters(candidate)
        if self.regions and (
            places is None or not all(any(within(places, c) for c in rule) for rule in self.regions)
        ):
            return False
        return (
            (self.allowed_providers is None or slug in self.allowed_providers)
            and slug not in self.ignored_providers
            and (self.allowed_models is None or model.id in self.allowed_models)
            and model.id not in self.ignored_models
            and not (self.enforce_zdr and not policy.zero_retention)
            and not (policy.may_train and not training)
        )


def _intersect(lists: Iterable[Iterable[str] | None]) -> frozenset[str] | None:
    result: frozenset[str] | None = None
    for names in lists:
        if names is not None:
            result = frozenset(names) if result is None else result & frozenset(names)
    return result


def combine(
    settings: PrivacySettings,
    guardrails: Iterable[Guardrail],
    regions: Mapping[str, tuple[str, ...]] | None = None,
) -> CombinedPolicy:
    """One policy from the account's settings and its guardrails (`regions`: the catalog's
    named regions); fail-closed: no source can loosen another."""
    guardrails = tuple(guardrails)
    named = regions or {}
    region_rules: list[tuple[frozenset[str], ...]] = []
    if settings.data_region:
        region_rules.append((frozenset(named.get(settings.data_region, ())),))
    region_rules += [
        tuple(frozenset(named.get(r, ())) for r in g.allowed_regions)
        for g in guardrails
        if g.allowed_regions is not None
    ]
    return CombinedPolicy(
        regions=tuple(region_rules),
        allowed_providers=_intersect(
            [settings.allowed_providers, *(g.allowed_providers for g in guardrails)]
        ),
        ignored_providers=frozenset(settings.ignored_providers).union(
            *(g.ignored_providers or () for g in guardrails)
        ),
        allowed_models=_intersect(g.allowed_models for g in guardrails),
        ignored_models=frozenset().union(*(g.ignored_models or () for g in guardrails)),
        enforce_zdr=settings.enforce_zdr or any(g.enforce_zdr for g in guardrails),
        paid_model_training=settings.enable_paid_model_training
        and all(g.enable_paid_model_training is not False for g in guardrails),
        free_model_training=settings.enable_free_model_training
        and all(g.enable_free_model_training is not False for g in guardrails),
        budgets=tuple(
            Budget(g.id, g.limit_usd, g.reset_interval)
            for g in guardrails
            if g.limit_usd is not None and g.reset_interval is not None
        ),
        guardrail_ids=tuple(g.id for g in guardrails),
    )


def content_filters(guardrails: Iterable[Guardrail]) -> tuple[list[AppliedFilter], bool]:
    """Every content filter of the guardrails, each once, for the dispatcher to scan the
    request with; and whether to restore redacted entities in the answer: only if every
    guardrail that redacts asks for it (restoring shares more, so all must agree)."""
    filters: dict[str, AppliedFilter] = {}
    restoring: list[bool] = []
    for g in guardrails:
        found: list[AppliedFilter] = []
        for entry in g.content_filter_builtins or ():
            label = placeholder_label(entry.label or builtin(entry.slug).label)
            user_only = entry.scan_scope == "user_only"
            found.append(AppliedFilter(label=label, action=entry.action, builtin=entry.slug,
                                       user_only=user_only))  # fmt: skip
        for custom in g.content_filters or ():
            label = placeholder_label(custom.label or "CUSTOM")
            found.append(AppliedFilter(label=label, action=custom.action, pattern=custom.pattern))
        if any(f.action == "redact" for f in found):
            restoring.append(g.restore)
        for applied in found:
            filters.setdefault(applied.model_dump_json(), applied)
    return list(filters.values()), bool(restoring) and all(restoring)
