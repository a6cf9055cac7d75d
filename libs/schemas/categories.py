"""The prompt categories of the public rankings, and the categorizer's reserved account.

The set is OpenRouter's (its rankings' categories), plus `other` for what fits none;
docs/analysts.md defines each with examples.
"""

from veil.schemas.chat import ChatRequest, content_texts

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


def prompt_text(request: ChatRequest) -> str:
    """What the categorizer gets of a request: text the user wrote, nothing else.

    The last user turn first (what the request is about now), then the earlier ones,
    newest first, up to SAMPLE_MAX_CHARS. Left out: system and developer prompts (the
    application's, not the user's), the assistant's turns, tool results, and parts that
    are not text (images, audio, files). "" when nothing is left: an empty or tool-only
    request is not sampled."""
    parts: list[str] = []
    room = SAMPLE_MAX_CHARS
    for message in reversed(request.messages):
        if message.role != "user":
            continue
        for text in content_texts(message.content):
            text = text.strip()
            if text and room > 0:
                parts.append(text[:room])
                room -= len(parts[-1]) + 1
    return "\n".join(parts)
