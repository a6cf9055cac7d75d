"""`veil categorizer train`: build the local classifier from the shipped corpus, measure
it on the held-out split, and write the artifact the categorizer loads."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from veil.categorizer import corpus
from veil.categorizer.local_model import ARTIFACT, LocalClassifier, train
from veil.schemas.categories import CATEGORIES


@dataclass
class Evaluation:
    """Accuracy and the confusion matrix (rows: true category, columns: predicted)."""

    categories: list[str]
    confusion: list[list[int]]

    @property
    def total(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def correct(self) -> int:
        return sum(self.confusion[i][i] for i in range(len(self.categories)))

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def recall(self, category: str) -> float:
        row = self.confusion[self.categories.index(category)]
        return row[self.categories.index(category)] / sum(row) if sum(row) else 0.0

    def table(self) -> str:
        """The matrix as text; column headers are the first four letters."""
        corner = "true \\ predicted"
        width = max(len(corner), *(len(c) for c in self.categories))
        heads = " ".join(f"{c.replace('marketing/', 'm/')[:4]:>4}" for c in self.categories)
        lines = [f"{corner:>{width}} {heads}  recall"]
        for category, row in zip(self.categories, self.confusion, strict=True):
            cells = " ".join(f"{n:>4}" for n in row)
            lines.append(f"{category:>{width}} {cells}  {self.recall(category):.2f}")
        return "\n".join(lines)


def evaluate(classifier: LocalClassifier, examples: Sequence[corpus.Example]) -> Evaluation:
    categories = list(CATEGORIES)
    index = {c: i for i, c in enumerate(categories)}
    confusion = [[0] * len(categories) for _ in categories]
    for example in examples:
        confusion[index[example.category]][index[classifier.classify(example.text)]] += 1
    return Evaluation(categories, confusion)


def train_from_corpus(data_dir: Path | None = None) -> LocalClassifier:
    """The classifier trained on the training split only."""
    examples = corpus.load("train", data_dir)
    return train(
        [e.text for e in examples], [e.category for e in examples], corpus.fingerprint(data_dir)
    )


def main(output: Path = ARTIFACT) -> int:
    """Train, report held-out accuracy and the confusion matrix, write the artifact."""
    classifier = train_from_corpus()
    heldout = corpus.load("heldout")
    result = evaluate(classifier, heldout)
    classifier.save(output)
    reloaded = evaluate(LocalClassifier.load(output), heldout)  # what the service will load
    print(f"trained on {len(corpus.load('train'))} prompts; held out {result.total}")
    print(f"held-out accuracy: {result.correct}/{result.total} = {result.accuracy:.1%}")
    print(f"held-out accuracy of the written artifact: {reloaded.accuracy:.1%}")
    print(result.table())
    print(f"wrote {output} ({output.stat().st_size // 1024} KiB)")
    return 0
