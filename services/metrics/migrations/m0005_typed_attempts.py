"""Attempts as typed columns: `attempts` becomes the list of endpoints tried (it was their
count; `length(attempts)` is that now) and replaces `provider_responses`, a JSON string
every reader parsed again. Existing rows are carried over."""

from veil.metrics.migrations import When, column_is

ATTEMPT = (
    "Tuple(model LowCardinality(String), provider LowCardinality(String), "
    "status Nullable(UInt16), error LowCardinality(Nullable(String)), latency_ms Float64)"
)
ATTEMPTS = f"Array({ATTEMPT})"

STATEMENTS = [
    # The count goes first: the list takes its name.
    When(
        column_is("generations", "attempts", "UInt8"),
        "ALTER TABLE generations DROP COLUMN IF EXISTS attempts",
    ),
    # Old rows read their attempts from the JSON until the column is written out below.
    When(
        column_is("generations", "provider_responses"),
        f"""
        ALTER TABLE generations ADD COLUMN IF NOT EXISTS attempts {ATTEMPTS}
            DEFAULT JSONExtract(provider_responses, '{ATTEMPTS}') AFTER cancelled
        """,
    ),
    # Written out (waiting for the mutation), then the JSON is no longer needed.
    When(
        column_is("generations", "attempts", with_default=True),
        "ALTER TABLE generations MATERIALIZE COLUMN attempts SETTINGS mutations_sync = 2",
    ),
    When(
        column_is("generations", "attempts", with_default=True),
        "ALTER TABLE generations MODIFY COLUMN attempts REMOVE DEFAULT",
    ),
    "ALTER TABLE generations DROP COLUMN IF EXISTS provider_responses",
]
