"""GET /generation as OpenRouter shapes it, from the metadata row metrics stores.

OpenRouter's fields that a self-hosted gateway has no value for are null (veil keeps no
referrer, user agent, end-user id or preset); veil's own additions (`status`,
`error_code`, `provider` slug, `time_to_first_token`, the provider's `data_policy`,
`logged` (whether the content was kept, for an opted-in account), the attempts in
`provider_responses`) are extra fields.
"""

from typing import Any

from veil.catalog import CatalogIndex

# veil runs where its operator runs it: there is no OpenRouter data region to name.
DATA_REGION = "self-hosted"

ALWAYS_NULL = (
    "app_id",
    "cache_discount",
    "external_user",
    "http_referer",
    "moderation_latency",
    "native_tokens_completion_images",
    "num_fetches",
    "num_input_audio_prompt",
    "num_media_completion",
    "num_media_prompt",
    "num_search_results",
    "preset_id",
    "request_id",
    "router",
    "service_tier",
    "session_id",
    "upstream_inference_cost",
    "user_agent",
    "web_search_engine",
    "workspace_id",
)


def _provider_name(index: CatalogIndex, slug: str | None) -> str | None:
    provider = index.providers.get(slug or "")
    return provider.name if provider else (slug or None)


def generation_view(index: CatalogIndex, row: dict[str, Any]) -> dict[str, Any]:
    provider = index.providers.get(row.get("provider") or "")
    # Estimated counts are veil's, not the upstream's: no native count then.
    native = not row.get("tokens_estimated")
    view: dict[str, Any] = dict.fromkeys(ALWAYS_NULL)
    view.update(
        {
            "id": row["id"],
            "created_at": row["created_at"],
            "model": row["model"],
            "provider_name": provider.name if provider else None,
            "upstream_id": row.get("upstream_id"),
            "api_type": "completions",
            "data_region": DATA_REGION,
            "origin": "",
            "is_byok": False,
            "total_cost": row["total_cost"],
            "usage": row["total_cost"],
            "latency": row["latency"],
            "generation_time": row["generation_time"],
            "tokens_prompt": row["tokens_prompt"],
            "tokens_completion": row["tokens_completion"],
            "native_tokens_prompt": row["tokens_prompt"] if native else None,
            "native_tokens_completion": row["tokens_completion"] if native else None,
            "native_tokens_cached": row.get("tokens_cached"),
            "native_tokens_reasoning": row.get("tokens_reasoning"),
            "finish_reason": row.get("finish_reason") or None,
            "native_finish_reason": row.get("native_finish_reason"),
            "streamed": row["streamed"],
            "cancelled": row["cancelled"],
            # veil's additions
            "provider": row.get("provider") or None,
            "upstream_model": row.get("upstream_model") or None,
            "status": row["status"],
            "error_code": row.get("error_code"),
            "tokens_estimated": row.get("tokens_estimated", False),
            "logged": row.get("logged", False),
            "time_to_first_token": row.get("time_to_first_token"),
            "data_policy": provider.data_policy.model_dump() if provider else None,
            "provider_responses": [
                {
                    **attempt,
                    "provider_name": _provider_name(index, attempt.get("provider")),
                    "latency": attempt.get("latency_ms"),
                    "is_byok": False,
                }
                for attempt in row.get("provider_responses") or []
            ],
        }
    )
    return view
