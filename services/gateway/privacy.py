"""Privacy-settings changes: validate, and refuse loosening without a management key."""

from pydantic import ValidationError

from veil.catalog import CatalogIndex
from veil.gateway.auth import Caller
from veil.gateway.errors import json_object, validation_message
from veil.schemas.accounts import PrivacySettings, PrivacySettingsPatch
from veil.schemas.errors import VeilError


def loosened(before: PrivacySettings, after: PrivacySettings) -> list[str]:
    """The settings a change makes less private (docs/privacy.md, invariant 9)."""
    changes = []
    for flag in (
        "enable_paid_model_training",
        "enable_free_model_training",
        "enable_prompt_logging",
    ):
        if getattr(after, flag) and not getattr(before, flag):
            changes.append(flag)
    if before.enforce_zdr and not after.enforce_zdr:
        changes.append("enforce_zdr")
    if set(before.ignored_providers) - set(after.ignored_providers):
        changes.append("ignored_providers")
    if before.allowed_providers is not None and (
        after.allowed_providers is None
        or set(after.allowed_providers) - set(before.allowed_providers)
    ):
        changes.append("allowed_providers")
    # Another region, or none, may allow what the one before did not.
    if before.data_region and after.data_region != before.data_region:
        changes.append("data_region")
    # Another default guardrail, or none, may allow what the one before did not.
    if before.default_guardrail_id and after.default_guardrail_id != before.default_guardrail_id:
        changes.append("default_guardrail_id")
    return changes


def parse_privacy_patch(raw: bytes) -> PrivacySettingsPatch:
    """The body of PATCH /privacy; a 400 naming what is wrong with it."""
    data = json_object(raw)
    unknown_fields = set(data) - set(PrivacySettingsPatch.model_fields)
    if unknown_fields:
        raise VeilError(400, f"Unknown privacy setting(s): {', '.join(sorted(unknown_fields))}")
    try:
        return PrivacySettingsPatch.model_validate(data)
    except ValidationError as exc:
        raise VeilError(400, f"Invalid privacy settings: {validation_message(exc)}") from exc


def apply_privacy_patch(
    current: PrivacySettings, patch: PrivacySettingsPatch, who: Caller, index: CatalogIndex
) -> PrivacySettings:
    updated = patched_settings(current, patch, index)
    if not who.can_manage:
        loosening = loosened(current, updated)
        if loosening:
            raise VeilError(
                403,
                "An inference key cannot loosen privacy settings "
                f"({', '.join(loosening)}); use a management key",
            )
    return updated


def patched_settings(
    current: PrivacySettings, patch: PrivacySettingsPatch, index: CatalogIndex
) -> PrivacySettings:
    """`current` with `patch` applied, providers stored as slugs (400 naming an unknown
    one). Whether the caller may apply it is `apply_privacy_patch`'s question."""
    updated = current.model_copy(update=patch.changes(), deep=True)
    # Providers are named as a request's `only` and `ignore` name them (slug or display
    # name, any case) and stored as slugs.
    for field in ("ignored_providers", "allowed_providers"):
        names = getattr(updated, field)
        if names is None:
            continue
        slugs = {name: index.provider_slug(name) for name in names}
        unknown = [name for name, slug in slugs.items() if slug is None]
        if unknown:
            raise VeilError(
                400,
                f"{field}: unknown provider(s): {', '.join(unknown)}",
                {"unknown_providers": unknown},
            )
        setattr(updated, field, sorted({slug for slug in slugs.values() if slug}))
    if updated.data_region is not None and updated.data_region not in index.catalog.regions:
        known = ", ".join(sorted(index.catalog.regions))
        raise VeilError(
            400, f"data_region: unknown region {updated.data_region!r}; regions: {known}"
        )
    return updated
