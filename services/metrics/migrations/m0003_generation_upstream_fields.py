"""OpenRouter's generation fields veil can fill: the upstream's id and finish reason, and
the cached and reasoning token counts it reported."""

STATEMENTS = [
    """
    ALTER TABLE generations
        ADD COLUMN IF NOT EXISTS upstream_id Nullable(String) AFTER upstream_model,
        ADD COLUMN IF NOT EXISTS native_finish_reason LowCardinality(Nullable(String))
            AFTER finish_reason,
        ADD COLUMN IF NOT EXISTS tokens_cached Nullable(UInt32) AFTER tokens_completion,
        ADD COLUMN IF NOT EXISTS tokens_reasoning Nullable(UInt32) AFTER tokens_cached
    """,
]
