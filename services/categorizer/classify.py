"""Assign a prompt to one category, locally: the text never leaves this process.

A keyword scorer is deliberately simple and deterministic; the category set follows
the ones public LLM rankings use.
"""

import re

CATEGORIES: dict[str, tuple[str, ...]] = {
    "programming": (
        "code",
        "function",
        "python",
        "javascript",
        "bug",
        "compile",
        "sql",
        "api",
        "class",
        "error",
        "stack trace",
        "regex",
        "typescript",
        "rust",
    ),
    "translation": (
        "translate",
        "translation",
        "in french",
        "in spanish",
        "in german",
        "into english",
        "into japanese",
    ),
    "marketing": ("marketing", "slogan", "campaign", "seo", "brand", "advert", "landing page"),
    "roleplay": ("roleplay", "role-play", "pretend you are", "act as", "character", "story"),
    "science": ("physics", "chemistry", "biology", "quantum", "molecule", "experiment"),
    "health": ("symptom", "diagnosis", "medicine", "health", "doctor", "disease"),
    "legal": ("contract", "lawsuit", "legal", "law", "clause", "court"),
    "finance": ("stock", "invest", "finance", "budget", "tax", "accounting", "revenue"),
    "academia": ("essay", "thesis", "citation", "homework", "paper", "research"),
    "trivia": ("who was", "what is the capital", "when did", "how many", "trivia"),
}
OTHER = "other"
_WORD = {c: [re.compile(r"\b" + re.escape(k) + r"\b") for k in keys]
         for c, keys in CATEGORIES.items()}  # fmt: skip


def categorize(text: str) -> str:
    lowered = text.lower()
    scores = {c: sum(1 for p in patterns if p.search(lowered)) for c, patterns in _WORD.items()}
    best = max(scores, key=lambda c: scores[c])
    return best if scores[best] > 0 else OTHER
