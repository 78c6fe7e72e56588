"""The rows of an evaluation: which tags count as truth, every metric of a model, the popularity baseline.

Pure functions of score matrices and tag lists (numpy and `hashtagger.metrics` only); `run` scores the
models and strings these together.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hashtagger.data import Dataset

#: Score cut-off of a model without calibrated thresholds (a sigmoid's natural 0.5).
DEFAULT_THRESHOLD = 0.5
POPULARITY = "popularity"
KS = (1, 5, 10)
#: Keys of every row's "metrics", in order (the JSON/CSV contract).
METRIC_KEYS = (
    *(f"{m}@{k}" for k in KS for m in ("precision", "recall", "accuracy", "f1")),
    "map",
    "f1_micro",
    "f1_macro",
    "map_head",
    "map_tail",
)


@dataclass(frozen=True)
class TagFrequencies:
    """How often each tag occurs, for the popularity baseline and the head/tail split.

    `source` is 'train' (image counts of the training split; `n_images` is its size) or 'rank'
    (the dataset's vocabulary file, most frequent first, when there is no training split).
    """

    counts: dict[str, float]
    source: str
    n_images: int = 0


def truth_matrix(tags: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """(N, V) bool: which of each image's tags are in the vocabulary; tags outside it are ignored."""
    index = {t: j for j, t in enumerate(vocabulary)}
    out = np.zeros((len(tags), len(vocabulary)), dtype=bool)
    for i, image_tags in enumerate(tags):
        cols = [index[t] for t in image_tags if t in index]
        out[i, cols] = True
    return out


def metrics_row(
    scores: np.ndarray,
    targets: np.ndarray,
    n_true: np.ndarray,
    *,
    thresholds: float | np.ndarray | None,
    frequencies: np.ndarray | None = None,
) -> dict[str, float | None]:
    """Every metric of one table row, keys as METRIC_KEYS; None where a metric is undefined.

    `thresholds` None (a model without a score scale, e.g. popularity by rank) leaves F1 micro/macro
    out; `frequencies` (V,) picks the head tags for map_head/map_tail, else the evaluated positives.
    """
    from hashtagger.metrics import average_precision, head_tail_map, ranking_metrics, threshold_metrics

    row: dict[str, float | None] = dict(ranking_metrics(scores, targets, n_true, ks=KS))
    if thresholds is None:
        row.update(f1_micro=None, f1_macro=None)
    else:
        row.update(threshold_metrics(scores, targets, thresholds))
    ap = average_precision(scores, targets)
    if frequencies is None:
        row.update(head_tail_map(ap, targets=targets))
    else:
        row.update(head_tail_map(ap, frequencies=frequencies))
    return {k: (None if v is None or math.isnan(v) else float(v)) for k, v in row.items()}


def tag_frequencies(dataset: Dataset) -> TagFrequencies | None:
    """Training-split tag counts, else the vocabulary file's rank order, else None (no honest prior)."""
    if "train" in dataset.splits():
        return TagFrequencies(dict(dataset.tag_counts("train")), "train", len(dataset.split("train")))
    if dataset.vocab_file:
        n = len(dataset.vocab_file)
        return TagFrequencies({t: float(n - i) for i, t in enumerate(dataset.vocab_file)}, "rank")
    return None


def dataset_vocabulary(dataset: Dataset, tags: Sequence[Sequence[str]]) -> list[str]:
    """The tags a zero-shot model ranks: the dataset's vocabulary, else the evaluated images' own tags."""
    vocab = list(dataset.vocabulary())
    if vocab:
        return vocab
    counts = Counter(t for image_tags in tags for t in image_tags)
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def model_row(
    spec: str,
    kind: str,
    vocabulary: Sequence[str],
    targets: np.ndarray,
    n_true: np.ndarray,
    thresholds: str | None,
    metrics: dict[str, float | None],
) -> dict[str, Any]:
    """One row of the comparison (the JSON/CSV contract): the model, its vocabulary, its metrics."""
    covered = float(targets.sum() / n_true.sum()) if n_true.sum() else 0.0
    return {
        "model": spec,
        "kind": kind,
        "vocabulary_size": len(vocabulary),
        "truth_in_vocabulary": covered,
        "thresholds": thresholds,
        "metrics": {k: metrics[k] for k in METRIC_KEYS},
    }


def frequencies(freqs: TagFrequencies, vocabulary: Sequence[str]) -> np.ndarray:
    """(V,) how often each vocabulary tag occurs (0 for tags the frequencies do not know)."""
    return np.array([freqs.counts.get(t, 0.0) for t in vocabulary], dtype=np.float64)


def popularity_row(
    freqs: TagFrequencies, vocab: Sequence[str], tags: Sequence[Sequence[str]], n_true: np.ndarray
) -> dict[str, Any]:
    """Always the most frequent tags; as a score, each tag's share of the training images."""
    from hashtagger.metrics import popularity_scores

    f = frequencies(freqs, vocab)
    if freqs.source == "train":
        shares, thresholds, label = f / max(1, freqs.n_images), DEFAULT_THRESHOLD, str(DEFAULT_THRESHOLD)
    else:  # ranks carry no probability: no threshold to cut at
        shares, thresholds, label = f, None, None
    targets = truth_matrix(tags, vocab)
    scores = popularity_scores(len(tags), shares)
    metrics = metrics_row(scores, targets, n_true, thresholds=thresholds, frequencies=f)
    return model_row(POPULARITY, POPULARITY, vocab, targets, n_true, label, metrics)
