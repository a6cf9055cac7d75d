"""How well the builtin detectors do on a labelled corpus: `python -m veil.sensitive.evaluate`
prints true positives, false positives, false negatives, precision and recall per builtin.

The corpus (corpus.jsonl, shipped with the package) is one JSON object a line: a text and
the entities in it, each a builtin's slug and the exact text that must be found; near-
misses (order numbers, versions, Luhn-invalid numbers...) have no entities. Every text is
scanned as a guardrail would scan it, all builtins at once (so overlaps resolve as they do
in use), and a detection counts as correct when its slug and its exact text match a
labelled entity of that text.
"""

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from veil.sensitive.detectors import BUILTINS
from veil.sensitive.scanner import FilterSpec, Scanner

CORPUS = "corpus.jsonl"


@dataclass(frozen=True)
class Score:
    slug: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        # nothing found: nothing wrongly found
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass(frozen=True)
class Miss:
    kind: str  # "false positive" or "false negative"
    slug: str
    value: str
    text: str


@dataclass
class Evaluation:
    scores: dict[str, Score]  # per builtin slug, in BUILTINS order
    misses: list[Miss] = field(default_factory=list)

    @property
    def total(self) -> Score:
        return Score(
            "total",
            sum(s.tp for s in self.scores.values()),
            sum(s.fp for s in self.scores.values()),
            sum(s.fn for s in self.scores.values()),
        )


def load_corpus() -> list[dict[str, Any]]:
    text = resources.files("veil.sensitive").joinpath(CORPUS).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def evaluate(corpus: Iterable[dict[str, Any]] | None = None) -> Evaluation:
    """Scan every text with all builtins (action redact) and compare with the labels."""
    scanner = Scanner([FilterSpec(label=slug, action="redact", builtin=slug) for slug in BUILTINS])
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    misses: list[Miss] = []
    for item in load_corpus() if corpus is None else corpus:
        text = item["text"]
        expected = Counter((e["slug"], e["value"]) for e in item["entities"])
        found = Counter((m.label, text[m.start : m.end]) for m in scanner.scan(text))
        for (slug, _value), n in (found & expected).items():
            tp[slug] += n
        for (slug, value), n in (found - expected).items():
            fp[slug] += n
            misses += [Miss("false positive", slug, value, text)] * n
        for (slug, value), n in (expected - found).items():
            fn[slug] += n
            misses += [Miss("false negative", slug, value, text)] * n
    scores = {slug: Score(slug, tp[slug], fp[slug], fn[slug]) for slug in BUILTINS}
    return Evaluation(scores, misses)


def table(evaluation: Evaluation) -> str:
    rows = [*evaluation.scores.values(), evaluation.total]
    width = max(len(s.slug) for s in rows)
    lines = [f"{'builtin':<{width}}  {'TP':>4}  {'FP':>4}  {'FN':>4}  precision  recall"]
    for s in rows:
        if s.slug == "total":
            lines.append("-" * len(lines[0]))
        lines.append(
            f"{s.slug:<{width}}  {s.tp:>4}  {s.fp:>4}  {s.fn:>4}  {s.precision:>9.3f}  "
            f"{s.recall:>6.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m veil.sensitive.evaluate",
        description="Precision and recall of the builtin detectors on the labelled corpus.",
    )
    parser.add_argument(
        "--misses", action="store_true", help="also list each false positive and negative"
    )
    args = parser.parse_args(argv)
    evaluation = evaluate()
    print(table(evaluation))
    if args.misses:
        for miss in evaluation.misses:
            print(f"\n{miss.kind} [{miss.slug}] {miss.value!r}\n  in {miss.text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
