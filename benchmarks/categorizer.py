"""The local classifier against its budget: load time, time per sample, memory.

    .venv/bin/python -m benchmarks.categorizer [--samples 3000]

- load: a fresh interpreter imports the classifier and loads the shipped model (median
  of three), the part of the categorizer's start-up the model adds;
- per sample: every held-out prompt classified in this process, then prompts of the
  longest length a sample can have;
- memory: the categorizer service itself (`veil run categorizer` against its own
  nats-server), its resident set after start-up and its peak after classifying
  `--samples` samples sent on the bus.

Budget: 3 s to load, 5 ms per sample, 250 MB resident.

    .venv/bin/python -m benchmarks.categorizer --compare

compares candidate models by 5-fold cross-validation on the training split (the
held-out split stays unseen), the measurement the shipped model was chosen by.
"""

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.integration.harness import RunningStack
from veil.categorizer import corpus
from veil.categorizer.local_model import LocalClassifier
from veil.schemas import subjects
from veil.schemas.categories import SAMPLE_MAX_CHARS
from veil.schemas.messages import PromptSample

LOAD_BUDGET_S = 3.0
SAMPLE_BUDGET_MS = 5.0
RSS_BUDGET_MB = 250.0

LOAD = """
import time
began = time.perf_counter()
from veil.categorizer.local_model import LocalClassifier
LocalClassifier.load()
print(time.perf_counter() - began)
"""


def load_seconds() -> float:
    runs = [
        float(subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(3)
    ]  # fmt: skip
    return statistics.median(runs)


def per_sample_ms(classifier: LocalClassifier, texts: list[str], rounds: int = 3) -> list[float]:
    timings = []
    for _ in range(rounds):
        for text in texts:
            began = time.perf_counter()
            classifier.classify(text)
            timings.append((time.perf_counter() - began) * 1000)
    return timings


def describe(timings: list[float]) -> str:
    ordered = sorted(timings)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return (
        f"mean {statistics.fmean(ordered):.2f} ms, p50 {statistics.median(ordered):.2f} ms, "
        f"p99 {p99:.2f} ms, max {ordered[-1]:.2f} ms"
    )


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident set now and at its peak, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def received(nats_url: str) -> int:
    client = await nats.connect(nats_url)
    try:
        reply = await client.request(subjects.health_subject("categorizer"), b"", timeout=10)
        return json.loads(reply.data)["detail"]["received"]
    finally:
        await client.close()


async def send_samples(nats_url: str, texts: list[str], n: int) -> float:
    client = await nats.connect(nats_url)
    began = time.perf_counter()
    for i in range(n):
        sample = PromptSample(model="meta-llama/llama-3.1-8b-instruct", text=texts[i % len(texts)])
        await client.publish(subjects.SAMPLE, sample.model_dump_json().encode())
        if i % 200 == 199:
            await client.flush()
            while await received(nats_url) < i - 400:  # core NATS drops a slow consumer's
                await asyncio.sleep(0.01)  # excess: stay within what it keeps up with
    await client.flush()
    while await received(nats_url) < n:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - began
    await client.close()
    return elapsed


def compare() -> int:
    """Accuracy of candidate models, 5-fold cross-validation on the training split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import RidgeClassifier, SGDClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.naive_bayes import ComplementNB
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    def words():
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)

    def chars():
        return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)

    candidates = {
        "word 1-2 grams, linear SVM": lambda: make_pipeline(words(), LinearSVC()),
        "char 2-5 grams, linear SVM": lambda: make_pipeline(chars(), LinearSVC()),
        "word + char, linear SVM (shipped)": lambda: make_pipeline(
            make_union(words(), chars()), LinearSVC()
        ),
        "word + char, ridge": lambda: make_pipeline(
            make_union(words(), chars()), RidgeClassifier()
        ),
        "word + char, complement naive Bayes": lambda: make_pipeline(
            make_union(words(), chars()), ComplementNB(alpha=0.3)
        ),
        "word + char, SGD (modified Huber)": lambda: make_pipeline(
            make_union(words(), chars()), SGDClassifier(loss="modified_huber", random_state=0)
        ),
    }
    examples = corpus.load("train")
    texts, labels = [e.text for e in examples], [e.category for e in examples]
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    print(f"5-fold cross-validation on the {len(texts)} training prompts")
    for name, build in candidates.items():
        began = time.perf_counter()
        scores = cross_val_score(build(), texts, labels, cv=folds)
        print(f"  {name:38s} {scores.mean():.1%} ± {scores.std():.1%}  "
              f"({time.perf_counter() - began:.1f} s)")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--compare", action="store_true", help="compare candidate models")
    args = parser.parse_args()
    if args.compare:
        return compare()
    failures = []

    load = load_seconds()
    print(f"load (imports + shipped model, fresh interpreter): {load:.2f} s")
    if load > LOAD_BUDGET_S:
        failures.append("load")

    classifier = LocalClassifier.load()
    heldout = [e.text for e in corpus.load("heldout")]
    longest = [(t * (SAMPLE_MAX_CHARS // max(len(t), 1) + 1))[:SAMPLE_MAX_CHARS] for t in heldout]
    everyday = per_sample_ms(classifier, heldout)
    worst = per_sample_ms(classifier, longest[:200], rounds=1)
    print(f"per sample, {len(heldout)} held-out prompts x3: {describe(everyday)}")
    print(f"per sample, {SAMPLE_MAX_CHARS}-character prompts: {describe(worst)}")
    if statistics.fmean(everyday) > SAMPLE_BUDGET_MS or max(worst) > SAMPLE_BUDGET_MS * 4:
        failures.append("per sample")

    with tempfile.TemporaryDirectory() as data_dir:
        stack = RunningStack(Path(data_dir))
        began = time.perf_counter()
        stack.start(services=("categorizer",))
        print(f"categorizer process answering health: {time.perf_counter() - began:.2f} s "
              "after its start (nats-server and the simulator started first)")  # fmt: skip
        pid = stack.children["categorizer"].process.pid
        rss, _ = memory_mb(pid)
        elapsed = asyncio.run(send_samples(stack.nats_url, heldout + longest, args.samples))
        after, peak = memory_mb(pid)
        stack.stop()
    print(f"categorizer process: {rss:.0f} MB resident after start-up; after {args.samples} "
          f"samples on the bus ({args.samples / elapsed:.0f}/s): {after:.0f} MB, "
          f"peak {peak:.0f} MB")  # fmt: skip
    if peak > RSS_BUDGET_MB:
        failures.append("memory")

    print("within budget" if not failures else f"OVER BUDGET: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
