"""The proof of what held: every account's chained audit events, the effective policies
that routed generations (once per hash), and each generation's policy hash."""

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS audit_events (
        account_id String,
        seq UInt64 COMMENT 'the place in the account''s chain, from 1',
        at_us Int64 COMMENT 'microseconds since the epoch',
        actor String COMMENT 'the key id that made the change, or admin',
        action LowCardinality(String),
        target String,
        before String COMMENT 'canonical JSON of settings: never a secret, never content',
        after String,
        prev_hash String,
        hash String,
        inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
    )
    ENGINE = ReplacingMergeTree(inserted_at)
    ORDER BY (account_id, seq)
    """,
    """
    CREATE TABLE IF NOT EXISTS policy_snapshots (
        hash String,
        created_at DateTime64(3, 'UTC'),
        policy String COMMENT 'canonical JSON: settings, guardrail rules, request constraints',
        inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
    )
    ENGINE = ReplacingMergeTree(inserted_at)
    ORDER BY hash
    """,
    """
    ALTER TABLE generations
        ADD COLUMN IF NOT EXISTS policy_hash String DEFAULT '' AFTER api_type
    """,
]
