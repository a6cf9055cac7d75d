"""Anonymous category observations: no identifier, time no finer than the hour."""

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS category_observations (
        hour DateTime('UTC'),
        model LowCardinality(String),
        category LowCardinality(String),
        observations UInt64
    )
    ENGINE = SummingMergeTree(observations)
    PARTITION BY toYYYYMM(hour)
    ORDER BY (hour, category, model)
    """,
]
