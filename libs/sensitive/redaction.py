"""Replacing entities with placeholders, and putting them back.

Within one request the same entity always gets the same placeholder (`[EMAIL_1]` in the
system prompt and in the third message alike), so the model can still refer to it. The
originals stay in the `Redactor` of that request (the dispatcher's memory, for the life of
the request); `Restorer` puts them back into an answer, also when it streams and a
placeholder arrives split across two chunks.
"""

import re
from collections import Counter
from collections.abc import Sequence

from veil.sensitive.scanner import Match

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*_\d+\]")
# The longest prefix of a placeholder a chunk may end with: "[" and up to 64 characters.
HOLD_BACK = re.compile(r"\[[A-Z0-9_]{0,64}$")


class Redactor:
    def __init__(self) -> None:
        self.originals: dict[str, str] = {}  # placeholder -> what it replaced
        self._placeholders: dict[tuple[str, str], str] = {}  # (label, original) -> it
        self._numbers: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()  # label -> entities redacted

    def redact(self, text: str, matches: Sequence[Match]) -> str:
        """`text` with each redacted match replaced by its placeholder (`matches` without
        overlaps, in order, as `Scanner.scan` gives them)."""
        parts, last = [], 0
        for match in matches:
            if match.action != "redact":
                continue
            parts.append(text[last : match.start])
            parts.append(self._placeholder(match.label, text[match.start : match.end]))
            self.counts[match.label] += 1
            last = match.end
        if not parts:
            return text
        parts.append(text[last:])
        return "".join(parts)

    def _placeholder(self, label: str, original: str) -> str:
        key = (label, original)
        found = self._placeholders.get(key)
        if found is None:
            self._numbers[label] += 1
            found = self._placeholders[key] = f"[{label}_{self._numbers[label]}]"
            self.originals[found] = original
        return found

    def restore(self, text: str) -> str:
        """Every placeholder of this request in `text` back to its original."""
        if not self.originals or "[" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self.originals.get(m.group(0), m.group(0)), text)


class Restorer:
    """Restores placeholders in a stream of text pieces: a piece ending with what could
    be the start of a placeholder keeps it back until the next piece (or the end)."""

    def __init__(self, redactor: Redactor):
        self.redactor = redactor
        self.held = ""

    def feed(self, piece: str) -> str:
        text = self.held + piece
        self.held = ""
        partial = HOLD_BACK.search(text)
        if partial is not None:
            self.held = text[partial.start() :]
            text = text[: partial.start()]
        return self.redactor.restore(text)

    def flush(self) -> str:
        text, self.held = self.held, ""
        return self.redactor.restore(text)
