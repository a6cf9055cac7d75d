"""Opt-in prompt logging: sealed content records that expire, and whether a generation
was logged."""

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS content_records (
        account_id String,
        generation_id String,
        created_at DateTime64(3, 'UTC'),
        model LowCardinality(String),
        provider LowCardinality(String),
        key_id String COMMENT 'the account data key that sealed it',
        nonce String,
        sealed String COMMENT 'AES-256-GCM ciphertext (base64): never plaintext',
        expires_at DateTime('UTC'),
        inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
    )
    ENGINE = ReplacingMergeTree(inserted_at)
    PARTITION BY toYYYYMM(created_at)
    ORDER BY (account_id, created_at, generation_id)
    TTL expires_at DELETE
    SETTINGS merge_with_ttl_timeout = 3600
    """,
    """
    ALTER TABLE generations ADD COLUMN IF NOT EXISTS logged Bool DEFAULT false AFTER cancelled
    """,
]
