"""The local classifier: a linear model over word and character n-grams.

Trained with scikit-learn (tf-idf features, a linear SVM) on the corpus in `data/`, and
stored without pickle: the vocabularies, idf weights and coefficients as arrays in one
`.npz` file. Classifying rebuilds the same features (`word_ngrams`, `char_wb_ngrams`:
scikit-learn's analyzers, written out) and scores them with numpy: nothing leaves the
process, and the service does not import scikit-learn, which would more than double
its memory (about 140 MB of imports for two short functions).
"""

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veil.schemas.categories import CATEGORIES, SAMPLE_MAX_CHARS

ARTIFACT = Path(__file__).parent / "model" / "classifier.npz"

# Word unigrams and bigrams carry topic words and phrases ("roth ira", "cite in"); the
# character n-grams within word boundaries carry word pieces, so inflections, typos and
# other languages still share features with the training prompts. Chosen by 5-fold
# cross-validation on the training split (docs/routing.md, "Categorization").
FEATURE_BLOCKS: dict[str, dict] = {
    "word": {"analyzer": "word", "ngram_range": (1, 2)},
    "char": {"analyzer": "char_wb", "ngram_range": (2, 5)},
}
SVM_C = 1.0
FORMAT = 1


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
_WHITE_SPACES = re.compile(r"\s\s+")


def word_ngrams(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's "word" analyzer (lowercase, default token pattern): the n-grams of
    tokens for n from low to high, the shorter ones first."""
    tokens = _TOKEN.findall(text.lower())
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's "char_wb" analyzer (lowercase): character n-grams inside each
    word padded with one space on each side; a word shorter than n counts once."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if n >= len(padded):
                grams.append(padded)
                break
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


ANALYZERS = {"word": word_ngrams, "char_wb": char_wb_ngrams}


def analyzer(params: dict) -> Callable[[str], list[str]]:
    analyze, (low, high) = ANALYZERS[params["analyzer"]], params["ngram_range"]
    return lambda text: analyze(text, low, high)


@dataclass
class _Block:
    """One tf-idf block: its analyzer, and each of its features' column in the model."""

    name: str
    analyze: Callable[[str], list[str]]
    columns: dict[str, int]
    start: int  # its first column


class LocalClassifier:
    """Scores a text against every category; the best one wins."""

    def __init__(
        self,
        classes: Sequence[str],
        features: dict[str, list[str]],
        idf: dict[str, np.ndarray],
        coef: np.ndarray,
        intercept: np.ndarray,
        corpus: str,
    ):
        self.classes = list(classes)
        self.corpus = corpus  # fingerprint of the corpus it was trained on
        self._coef = np.ascontiguousarray(coef.T, dtype=np.float32)  # (features, classes)
        self._intercept = intercept.astype(np.float32)
        self._blocks: list[_Block] = []
        offset = 0
        for name, params in FEATURE_BLOCKS.items():
            names = features[name]
            if len(names) != len(idf[name]):
                raise ValueError(f"{name}: {len(names)} features but {len(idf[name])} idf weights")
            columns = {feature: offset + i for i, feature in enumerate(names)}
            self._blocks.append(_Block(name, analyzer(params), columns, offset))
            offset += len(names)
        self._idf = np.concatenate([idf[n] for n in FEATURE_BLOCKS]).astype(np.float32)
        if offset != self._coef.shape[0]:
            raise ValueError(f"{offset} features but {self._coef.shape[0]} coefficient rows")

    def scores(self, text: str) -> np.ndarray:
        """One score per class, as the trained SVM's decision function computes it."""
        text = text[:SAMPLE_MAX_CHARS]
        total = self._intercept.copy()
        for block in self._blocks:
            counts = Counter(block.analyze(text))
            found = [(block.columns[f], n) for f, n in counts.items() if f in block.columns]
            if not found:
                continue
            columns = np.fromiter((c for c, _ in found), dtype=np.intp, count=len(found))
            tf = np.fromiter((n for _, n in found), dtype=np.float32, count=len(found))
            weights = (1.0 + np.log(tf)) * self._idf[columns]  # sublinear tf, then idf
            weights /= np.linalg.norm(weights)  # each block is l2-normalised on its own
            total += weights @ self._coef[columns]
        return total

    def classify(self, text: str) -> str:
        return self.classes[int(np.argmax(self.scores(text)))]

    # storage --------------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for block in self._blocks:
            ordered = sorted(block.columns, key=block.columns.__getitem__)
            arrays[f"{block.name}_features"] = _text_array("\n".join(ordered))
            arrays[f"{block.name}_idf"] = self._idf[block.start : block.start + len(ordered)]
        meta = {"format": FORMAT, "classes": self.classes, "corpus": self.corpus}
        arrays["meta"] = _text_array(json.dumps(meta))
        # Half precision halves the file; the decision it changes is measured by the
        # held-out test on the loaded artifact, not assumed.
        arrays["coef"] = self._coef.T.astype(np.float16)
        arrays["intercept"] = self._intercept
        with path.open("wb") as file:
            np.savez_compressed(file, **arrays)  # type: ignore[arg-type]  # (numpy stubs)

    @classmethod
    def load(cls, path: Path = ARTIFACT) -> "LocalClassifier":
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(_text(stored["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path}: artifact format {meta.get('format')}, not {FORMAT}")
            features = {n: _text(stored[f"{n}_features"]).split("\n") for n in FEATURE_BLOCKS}
            idf = {n: stored[f"{n}_idf"] for n in FEATURE_BLOCKS}
            return cls(
                meta["classes"],
                features,
                idf,
                stored["coef"].astype(np.float32),
                stored["intercept"],
                meta["corpus"],
            )


def train(texts: Sequence[str], labels: Sequence[str], corpus: str = "") -> LocalClassifier:
    """Fit the feature blocks and the linear SVM (deterministic: same corpus, same model)."""
    import scipy.sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    unknown = set(labels) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"labels that are not categories: {sorted(unknown)}")
    if len(set(labels)) < 3:  # one-vs-rest scores, one row per class, need three or more
        raise ValueError("training needs examples of at least three categories")
    texts = [t[:SAMPLE_MAX_CHARS] for t in texts]
    vectorizers = {
        name: TfidfVectorizer(lowercase=True, sublinear_tf=True, **params)
        for name, params in FEATURE_BLOCKS.items()
    }
    matrix = scipy.sparse.hstack([v.fit_transform(texts) for v in vectorizers.values()]).tocsr()
    svm = LinearSVC(C=SVM_C, random_state=0).fit(matrix, labels)
    features, idf = {}, {}
    for name, vectorizer in vectorizers.items():
        vocabulary = vectorizer.vocabulary_
        features[name] = sorted(vocabulary, key=vocabulary.__getitem__)
        idf[name] = vectorizer.idf_
    return LocalClassifier(list(svm.classes_), features, idf, svm.coef_, svm.intercept_, corpus)


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _text(array: np.ndarray) -> str:
    return array.tobytes().decode("utf-8")
