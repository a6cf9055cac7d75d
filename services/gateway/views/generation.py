"""GET /generation as OpenRouter shapes it, from the metadata row metrics stores.

OpenRouter's fields that a self-hosted gateway has no value for are null (veil keeps no
referrer, user agent, end-user id or preset); veil's own additions (`status`,
`error_code`, `provider` slug, `time_to_first_token`, the provider's `data_policy`,
`logged` (whether the content was kept, for an opted-in account), the attempts in
`provider_responses`) are extra fields.
"""

from typing import Any

from veil.catalog import CatalogIndex
from veil.schemas.queries import GenerationRecord

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


def generation_view(index: CatalogIndex, record: GenerationRecord) -> dict[str, Any]:
    provider = index.providers.get(record.provider)
    # Estimated counts are veil's, not the upstream's: no native count then.
    native = not record.tokens_estimated
    view: dict[str, Any] = dict.fromkeys(ALWAYS_NULL)
    view.update(
        {
            "id": record.id,
            "created_at": record.created_at,
            "model": record.model,
            "provider_name": provider.name if provider else None,
            "upstream_id": record.upstream_id,
            "api_type": record.api_type,
            "data_region": DATA_REGION,
            "origin": "",
            "is_byok": False,
            "total_cost": record.total_cost,
            "usage": record.total_cost,
            "latency": record.latency,
            "generation_time": record.generation_time,
            "tokens_prompt": record.tokens_prompt,
            "tokens_completion": record.tokens_completion,
            "native_tokens_prompt": record.tokens_prompt if native else None,
            "native_tokens_completion": record.tokens_completion if native else None,
            "native_tokens_cached": record.tokens_cached,
            "native_tokens_reasoning": record.tokens_reasoning,
            "finish_reason": record.finish_reason or None,
            "native_finish_reason": record.native_finish_reason,
            "streamed": record.streamed,
            "cancelled": record.cancelled,
            # veil's additions
            "provider": record.provider or None,
            "upstream_model": record.upstream_model or None,
            "status": record.status,
            "error_code": record.error_code,
            "tokens_estimated": record.tokens_estimated,
            "logged": record.logged,
            "guardrails": record.guardrails,
            "redactions": record.redactions,
            "flagged": record.flagged,
            "blocked_by": record.blocked_by,
            "time_to_first_token": record.time_to_first_token,
            "data_policy": provider.data_policy.model_dump() if provider else None,
            "provider_responses": [
                {
                    **attempt.model_dump(),
                    "provider_name": _provider_name(index, attempt.provider),
                    "latency": attempt.latency_ms,
                    "is_byok": False,
                }
                for attempt in record.provider_responses
            ],
        }
    )
    return view
