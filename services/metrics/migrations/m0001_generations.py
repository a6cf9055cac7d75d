"""One row per generation, metadata only; a redelivered event replaces, never adds."""

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS generations (
        generation_id String,
        account_id String,
        key_id String,
        created_at DateTime64(3, 'UTC'),
        model LowCardinality(String),
        provider LowCardinality(String),
        upstream_model LowCardinality(String),
        tokens_prompt UInt32,
        tokens_completion UInt32,
        tokens_estimated Bool,
        latency_ms Float32,
        generation_time_ms Float32,
        time_to_first_token_ms Nullable(Float32),
        total_cost Float64,
        status LowCardinality(String),
        error_code Nullable(UInt16),
        finish_reason LowCardinality(String),
        streamed Bool,
        cancelled Bool,
        attempts UInt8,
        provider_responses String COMMENT 'JSON list of attempts (provider, status, latency)',
        inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
    )
    ENGINE = ReplacingMergeTree(inserted_at)
    PARTITION BY toYYYYMM(created_at)
    ORDER BY (account_id, created_at, generation_id)
    """,
]
