"""The prompt categories of the public rankings, and the categorizer's reserved account.

The set is OpenRouter's (its rankings' categories), plus `other` for what fits none;
docs/analysts.md defines each with examples.
"""

OTHER = "other"
CATEGORIES: tuple[str, ...] = (
    "programming",
    "roleplay",
    "marketing",
    "marketing/seo",
    "technology",
    "science",
    "translation",
    "legal",
    "finance",
    "health",
    "trivia",
    "academia",
    OTHER,
)

# The account the categorizer's own model requests run under (with VEIL_CATEGORIZER_MODEL).
# Its id is not of the form accounts are created with (`acct-` + hex), so no client can
# hold it; its privacy settings (zero retention, no training, no prompt logging) are
# written by the categorizer to the `veil_privacy` bucket, where policy enforces them.
CATEGORIZER_ACCOUNT = "acct-veil-categorizer"
CATEGORIZER_KEY = "key-veil-categorizer"

# The most of a prompt that is sampled and classified: the start of the last user turn
# says what it is about; more only costs time (and leaves more text in flight).
SAMPLE_MAX_CHARS = 1000
