"""What content filters did to each generation: entities redacted and flagged, by filter
label (counts only, never a value), and the filter that blocked it."""

STATEMENTS = [
    """
    ALTER TABLE generations
        ADD COLUMN IF NOT EXISTS redactions Map(LowCardinality(String), UInt32) AFTER guardrails,
        ADD COLUMN IF NOT EXISTS flagged Map(LowCardinality(String), UInt32) AFTER redactions,
        ADD COLUMN IF NOT EXISTS blocked_by LowCardinality(Nullable(String)) AFTER flagged
    """,
]
