"""The privacy receipt on every answer to a chat request: who served the call, what that
provider does with data, which guardrails held, and whether veil kept the content (only
for accounts that opted in to prompt logging)."""

from veil.catalog import CatalogIndex


def response_headers(
    index: CatalogIndex,
    generation_id: str,
    provider_slug: str,
    logged: bool,
    guardrails: list[str] | None = None,
    data_regions: list[str] | None = None,
) -> dict[str, str]:
    provider = index.providers.get(provider_slug)
    headers = {
        "X-Generation-Id": generation_id,
        "X-Veil-Provider": provider_slug,
        "X-Veil-Logged": "true" if logged else "false",
    }
    if guardrails:  # the key's guardrails that held for this request, by id
        headers["X-Veil-Guardrails"] = ", ".join(guardrails)
    if data_regions:  # the data regions it was held to (the account's, the request's)
        headers["X-Veil-Data-Region"] = ", ".join(data_regions)
    if provider is not None:
        policy = provider.data_policy
        headers["X-Veil-Data-Policy"] = (
            f"training={_flag(policy.training)}; retains_prompts={_flag(policy.retains_prompts)}; "
            f"retention_days={_flag(policy.retention_days)}"
        )
    return headers


def _flag(value: bool | int | None) -> str:
    if value is None:
        return "unknown"
    return str(value).lower()
