"""The guardrails that held for each generation (their ids), so /generation and the
analysts can see which rules routed it."""

STATEMENTS = [
    """
    ALTER TABLE generations
        ADD COLUMN IF NOT EXISTS guardrails Array(String) AFTER logged
    """,
]
