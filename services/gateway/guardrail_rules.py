"""A guardrail's rules as a request writes them: parsed, refused by name when veil does
not know or support a field, and normalized as stored (provider slugs, catalog models)."""

from typing import Any

from pydantic import ValidationError

from veil.catalog import CatalogIndex
from veil.gateway.errors import json_object, validation_message
from veil.schemas.errors import VeilError
from veil.schemas.guardrails import GuardrailRules
from veil.sensitive.detectors import UNSUPPORTED as UNSUPPORTED_BUILTINS
from veil.sensitive.scanner import PatternRefused, compile_custom

# OpenRouter's guardrail fields that veil does not implement: refused by name rather than
# accepted and ignored, which would let a request through that the caller meant to stop.
UNSUPPORTED = frozenset(
    {
        "allow_safety_retention_google",
        "allow_safety_retention_other",
        "allowed_data_regions",
        "enable_free_model_publication",
        "enforce_zdr_anthropic",
        "enforce_zdr_google",
        "enforce_zdr_openai",
        "enforce_zdr_other",
        "enforce_zdr_xai",
    }
)


def guardrail_body(raw: bytes, account: str) -> dict[str, Any]:
    """A guardrail body as JSON, with OpenRouter's `workspace_id` (veil's account) taken
    out; an unsupported or unknown field is a 400 naming it."""
    body = json_object(raw)
    workspace = body.pop("workspace_id", None)
    if workspace is not None and workspace != account:
        raise VeilError(400, "workspace_id: a guardrail belongs to the account it is made in")
    unsupported = sorted(UNSUPPORTED & set(body))
    if unsupported:
        raise VeilError(400, f"Guardrail field(s) veil does not support: {', '.join(unsupported)}")
    unknown = sorted(set(body) - set(GuardrailRules.model_fields))
    if unknown:
        raise VeilError(400, f"Unknown guardrail field(s): {', '.join(unknown)}")
    return body


def checked_rules(rules: dict[str, Any], index: CatalogIndex) -> dict[str, Any]:
    """Rules as stored: providers as slugs and models as catalog ids (400 naming an
    unknown one, since a name that matched nothing would make a list allow or ignore
    nothing), custom patterns that compile."""
    for field in ("allowed_providers", "ignored_providers"):
        names = rules.get(field)
        if names is None:
            continue
        slugs = {name: index.provider_slug(name) for name in names}
        unknown = [name for name, slug in slugs.items() if slug is None]
        if unknown:
            raise VeilError(400, f"{field}: unknown provider(s): {', '.join(unknown)}")
        rules[field] = sorted({slug for slug in slugs.values() if slug})
    for field in ("allowed_models", "ignored_models"):
        models = rules.get(field)
        if models is None:
            continue
        unknown = [model for model in models if model not in index.models]
        if unknown:
            raise VeilError(400, f"{field}: unknown model(s): {', '.join(unknown)}")
        rules[field] = sorted(set(models))
    unknown_regions = [
        r for r in rules.get("allowed_regions") or () if r not in index.catalog.regions
    ]
    if unknown_regions:
        known = ", ".join(sorted(index.catalog.regions))
        raise VeilError(
            400,
            f"allowed_regions: unknown region(s): {', '.join(unknown_regions)}; regions: {known}",
        )
    for position, entry in enumerate(rules.get("content_filters") or ()):
        try:
            compile_custom(entry["pattern"])
        except PatternRefused as exc:
            raise VeilError(
                400,
                f"content_filters[{position}].pattern: not a pattern veil can match in "
                f"linear time ({exc}); backreferences and lookaround are not supported",
            ) from exc
    for position, entry in enumerate(rules.get("content_filter_builtins") or ()):
        if entry["slug"] in UNSUPPORTED_BUILTINS:
            raise VeilError(
                400,
                f"content_filter_builtins[{position}]: veil has no {entry['slug']} detector "
                "(it would need a language model); use a custom pattern",
            )
    return rules


def parsed_rules(body: dict[str, Any], model: type[GuardrailRules]) -> GuardrailRules:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise VeilError(400, f"Invalid guardrail: {validation_message(exc)}") from exc
