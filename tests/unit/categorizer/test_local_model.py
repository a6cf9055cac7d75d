"""The local classifier, trained on the shipped corpus and measured on its held-out split.

The floor: 85% of the held-out prompts, each category above 75%. The model measured
86.6% when written (`veil categorizer train` prints the confusion matrix); training is
deterministic, so this fails on a change to the features, the model or the corpus that
costs more than about a point and a half, not at random. The keyword list it replaced got 38%
on everyday prompts.
"""

import subprocess
import sys

import numpy as np
import pytest

from veil.categorizer import corpus
from veil.categorizer.local_model import (
    ARTIFACT,
    FEATURE_BLOCKS,
    LocalClassifier,
    analyzer,
    train,
)
from veil.categorizer.train import evaluate, train_from_corpus
from veil.schemas.categories import CATEGORIES

ACCURACY_FLOOR = 0.85
RECALL_FLOOR = 0.75


@pytest.fixture(scope="module")
def trained() -> LocalClassifier:
    return train_from_corpus()


@pytest.fixture(scope="module")
def heldout() -> list[corpus.Example]:
    return corpus.load("heldout")


def test_held_out_accuracy_is_above_the_floor(trained, heldout):
    result = evaluate(trained, heldout)
    assert result.total == len(heldout) > 600
    assert result.accuracy >= ACCURACY_FLOOR, result.table()
    for category in CATEGORIES:
        assert result.recall(category) >= RECALL_FLOOR, result.table()


def test_the_shipped_model_is_trained_on_the_shipped_corpus(trained, heldout):
    """The artifact the service loads was rebuilt after the last corpus change, and
    decides as a fresh training does (its half-precision weights change nothing)."""
    shipped = LocalClassifier.load(ARTIFACT)
    assert shipped.corpus == corpus.fingerprint(), "run `veil categorizer train`"
    assert shipped.classes == trained.classes
    texts = [e.text for e in heldout]
    assert [shipped.classify(t) for t in texts] == [trained.classify(t) for t in texts]


def test_scores_are_the_trained_svm_decision_function(trained, heldout):
    """The numpy scorer rebuilds scikit-learn's features exactly: same scores as the
    scikit-learn pipeline trained with the same settings."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    examples = corpus.load("train")
    pipeline = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LinearSVC(random_state=0),
    ).fit([e.text for e in examples], [e.category for e in examples])
    texts = [e.text for e in heldout[:60]]
    expected = pipeline.decision_function(texts)
    got = np.array([trained.scores(t) for t in texts])
    assert np.allclose(got, expected, atol=1e-4)


def test_the_features_are_scikit_learns_analyzers_exactly():
    """The service builds features without importing scikit-learn: the same n-grams, in
    the same order, for every prompt of the corpus and some awkward text."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [e.text for e in corpus.load("all")]
    texts += ["", " ", "a", "I", "a  b\t\tc\n\nd", "ÉCOLE été", "x" * 3, "日本語のテキスト", "ab"]
    for name, params in FEATURE_BLOCKS.items():
        ours = analyzer(params)
        theirs = TfidfVectorizer(lowercase=True, **params).build_analyzer()
        for text in texts:
            assert ours(text) == theirs(text), (name, text)


def test_the_service_does_not_import_scikit_learn():
    code = (
        "import sys, veil.categorizer.app, veil.categorizer.local_model as m; "
        "m.LocalClassifier.load().classify('hello'); "
        "print('sklearn' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_prompts_it_never_saw_in_everyday_words(trained):
    """A few prompts in the style of the issue's everyday set, none in the corpus."""
    unseen = {
        "my flask route returns 405 method not allowed on POST": "programming",
        "How do I get my plumbing company to show up first when people google plumber?": (
            "marketing/seo"
        ),
        "Can a landlord raise the rent in the middle of a lease?": "legal",
        "what's the difference between a stock and a bond": "finance",
        "How many grams of protein should a pregnant woman eat each day?": "health",
        "Traduis en espagnol : « le magasin ferme à vingt heures »": "translation",
    }
    known = {e.text for e in corpus.load("all")}
    assert not known & set(unseen)
    wrong = {t: trained.classify(t) for t, c in unseen.items() if trained.classify(t) != c}
    assert wrong == {}


def test_empty_and_odd_text_still_gets_a_category(trained):
    for text in ("", "   ", "🙂", "x" * 50_000, "\n\n\t"):
        assert trained.classify(text) in CATEGORIES


def test_training_refuses_labels_outside_the_category_set():
    with pytest.raises(ValueError, match="not categories"):
        train(["a", "b", "c"], ["programming", "legal", "poetry"])


def test_a_saved_model_loads_back_with_the_same_decisions(trained, heldout, tmp_path):
    path = tmp_path / "model.npz"
    trained.save(path)
    loaded = LocalClassifier.load(path)
    texts = [e.text for e in heldout[:100]]
    assert [loaded.classify(t) for t in texts] == [trained.classify(t) for t in texts]
    assert loaded.corpus == trained.corpus
