"""The API surface each generation came in by: completions (chat), messages (Anthropic's
Messages API), responses (OpenAI's Responses API) or embeddings."""

STATEMENTS = [
    """
    ALTER TABLE generations
        ADD COLUMN IF NOT EXISTS api_type LowCardinality(String) DEFAULT 'completions'
            AFTER blocked_by
    """,
]
