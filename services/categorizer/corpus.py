"""The labelled corpus the local classifier learns from, shipped in `data/`.

One file per category (`marketing/seo` is `marketing-seo.txt`), one prompt per line,
`\\n` standing for a line break inside a prompt. The prompts were written for this
corpus: varied in length, phrasing and register, some in other languages than English.

A fixed fifth of the prompts, chosen by a hash of their text, is held out: training
never reads it, and the accuracy veil reports is measured on it alone.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from veil.schemas.categories import CATEGORIES

DATA_DIR = Path(__file__).parent / "data"
HELD_OUT_BUCKETS = 5  # one bucket of five is held out

Split = Literal["train", "heldout", "all"]


@dataclass(frozen=True)
class Example:
    text: str
    category: str


def file_of(category: str) -> Path:
    return DATA_DIR / (category.replace("/", "-") + ".txt")


def is_held_out(text: str) -> bool:
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:4], "big") % HELD_OUT_BUCKETS == 0


def load(split: Split = "train", data_dir: Path | None = None) -> list[Example]:
    """The examples of one split, in file order, category by category."""
    examples = []
    for category in CATEGORIES:
        path = file_of(category) if data_dir is None else data_dir / file_of(category).name
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            text = line.replace("\\n", "\n")
            if split == "all" or (split == "heldout") == is_held_out(text):
                examples.append(Example(text, category))
    return examples


def fingerprint(data_dir: Path | None = None) -> str:
    """A digest of every corpus file: the trained artifact records the corpus it came from."""
    digest = hashlib.sha256()
    for category in CATEGORIES:
        path = file_of(category) if data_dir is None else data_dir / file_of(category).name
        digest.update(category.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
