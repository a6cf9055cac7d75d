"""Finding sensitive information in text: builtin detectors and custom patterns, each with
an action (redact, block or flag), compiled once per set of filters.

Every pattern is compiled with RE2, which matches in time linear in the text whatever
the pattern: a custom pattern RE2 refuses (backreferences, lookaround: features that can
take exponential time) is refused when the guardrail is written (`compile_custom`).
"""

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import re2

from veil.sensitive.detectors import Detector, builtin

Action = Literal["redact", "block", "flag"]
# Which action wins when two filters find the same entity.
STRENGTH = {"flag": 0, "redact": 1, "block": 2}

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is the caller's 400, not a log line


class PatternRefused(ValueError):
    """RE2 cannot compile the pattern: it is not a regular expression matchable in
    linear time, or not valid at all."""


def compile_custom(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise PatternRefused(str(detail)) from None


@dataclass(frozen=True)
class FilterSpec:
    """One filter as routing hands it on: a builtin detector (by slug) or a pattern, the
    placeholder label its entities get, and what to do with them."""

    label: str
    action: Action
    builtin: str | None = None
    pattern: str | None = None
    user_only: bool = False  # prompt-injection scan of user messages only


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    label: str
    action: Action

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class _Compiled:
    spec: FilterSpec
    regex: Any
    detector: Detector | None


class Scanner:
    """The filters of one request (or guardrail), ready to scan any number of texts.

    A text is first run through all the filters' patterns at once (an RE2 set: one pass,
    which says which patterns match anywhere); only those are then run for their
    matches, and only their candidates checked. Most prompts hold no entity, and cost
    that one pass."""

    def __init__(self, specs: Sequence[FilterSpec]):
        self.specs = tuple(specs)
        self._compiled, self._any = _compile_all(self.specs)

    def __bool__(self) -> bool:
        return bool(self._compiled)

    def scan(self, text: str, role: str | None = None) -> list[Match]:
        """The entities in `text`, without overlaps: of two that overlap, the stronger
        action wins, then the longer one, then the first."""
        if not self._compiled or not text:
            return []
        hits = self._any.Match(text)
        if not hits:
            return []
        found: list[Match] = []
        for index in sorted(hits):
            compiled = self._compiled[index]
            spec = compiled.spec
            if spec.user_only and role not in (None, "user"):
                continue
            valid = compiled.detector.valid if compiled.detector else None
            for m in compiled.regex.finditer(text):
                start, end = m.span()
                if end == start or (valid is not None and not valid(m.group(0))):
                    continue
                found.append(Match(start, end, spec.label, spec.action))
        return _without_overlaps(found)


def _without_overlaps(found: list[Match]) -> list[Match]:
    if len(found) < 2:
        return found
    ranked = sorted(found, key=lambda m: (-STRENGTH[m.action], -m.length, m.start))
    kept: list[Match] = []
    for match in ranked:
        if all(match.end <= k.start or match.start >= k.end for k in kept):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)


@functools.cache
def _compile_all(specs: tuple[FilterSpec, ...]) -> tuple[list[_Compiled], Any]:
    compiled = [_compile(spec) for spec in specs]
    union = re2.Set.SearchSet(_OPTIONS)
    for item in compiled:
        union.Add(item.regex.pattern)
    union.Compile()
    return compiled, union


@functools.cache
def _compile(spec: FilterSpec) -> _Compiled:
    if spec.builtin is not None:
        detector = builtin(spec.builtin)
        return _Compiled(spec, re2.compile(detector.pattern, _OPTIONS), detector)
    assert spec.pattern is not None
    return _Compiled(spec, compile_custom(spec.pattern), None)


def scanner_for(filters: Iterable[Any]) -> Scanner:
    """A scanner for filters as routing hands them on (`AppliedFilter`s, or anything with
    the same fields), kept while the same set of filters is asked for again."""
    specs = tuple(FilterSpec(f.label, f.action, f.builtin, f.pattern, f.user_only) for f in filters)
    return _scanner(specs)


@functools.lru_cache(maxsize=256)
def _scanner(specs: tuple[FilterSpec, ...]) -> Scanner:
    return Scanner(specs)


def placeholder_label(name: str) -> str:
    """A label as placeholders carry it: upper case letters, digits and underscores."""
    cleaned = "".join(c if c.isalnum() else "_" for c in name.upper()).strip("_")
    return cleaned or "CUSTOM"


def strongest(actions: Iterable[Action]) -> Action | None:
    return max(actions, key=STRENGTH.__getitem__, default=None)
