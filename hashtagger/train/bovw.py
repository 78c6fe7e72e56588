"""Training the bag-of-visual-words baseline (model.kind bovw_svm): one pass, no epochs.

SIFT descriptors of every photo (worker processes, cached on disk: hashtagger.models.sift) ->
a visual vocabulary of K words by k-means on a seeded sample of the training descriptors ->
each photo as a normalised histogram of its words -> one linear SVM per tag, one-vs-rest, so
multi-label data needs nothing special. Validation uses hashtagger.metrics like the classifier,
and the run folder gets the same files: config.yaml, metrics.csv (one row), best.pt and last.pt
(identical: there is nothing to choose between). `run_training` dispatches here.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hashtagger.errors import DatasetError, MissingDependencyError
from hashtagger.models.bovw import encode
from hashtagger.models.sift import (
    INSTALL_HINT,
    DescriptorCache,
    SiftPass,
    bovw_preprocessing,
    default_extract_workers,
    load_descriptors,
)
from hashtagger.progress import Progress, ProgressFn
from hashtagger.train.config import Config, config_to_dict, dump_config
from hashtagger.train.engine import EVAL_KS, TrainingData, TrainResult, training_data, write_checkpoints
from hashtagger.train.runlog import METRIC_COLUMNS, RunLog
from hashtagger.words import plural

#: Score of a tag no SVM could be fitted for (no positive, or no negative, training photo).
CONSTANT_SCORE = 1000.0
#: bovw.kmeans auto: full k-means up to this many sampled descriptors, mini-batch above.
FULL_KMEANS_MAX = 50_000


def require_bovw_dependencies() -> Any:
    """cv2 (returned) and scikit-learn, or one MissingDependencyError naming the extra."""
    message = f"model.kind bovw_svm needs OpenCV and scikit-learn: {INSTALL_HINT}"
    try:
        import cv2
        import sklearn  # noqa: F401
    except ImportError:
        raise MissingDependencyError(message) from None
    if not hasattr(cv2, "SIFT_create"):
        raise MissingDependencyError(f"{message} (OpenCV {cv2.__version__} has no SIFT_create)")
    return cv2


def fit_vocabulary(
    descriptors: Sequence[np.ndarray], clusters: int, *, method: str = "auto", sample: int = 0, seed: int = 0
) -> tuple[np.ndarray, str]:
    """k-means centroids (K, 128) float32 over a seeded sample of all descriptors, and the method used."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    pool = np.concatenate([d for d in descriptors if len(d)]) if any(len(d) for d in descriptors) else None
    total = 0 if pool is None else len(pool)
    if pool is None or total < clusters:
        raise DatasetError(
            f"the training photos have {total} SIFT descriptors, fewer than bovw.clusters = {clusters}: "
            "lower bovw.clusters, or raise bovw.image_size / bovw.max_descriptors_per_image"
        )
    rng = np.random.default_rng(seed)
    if sample and total > sample:
        pool = pool[np.sort(rng.choice(total, size=sample, replace=False))]
    x = pool.astype(np.float32)
    if method == "auto":
        method = "full" if len(x) <= FULL_KMEANS_MAX else "minibatch"
    if method == "full":
        km: Any = KMeans(n_clusters=clusters, n_init=1, random_state=seed)
    else:
        km = MiniBatchKMeans(
            n_clusters=clusters, batch_size=max(4096, 20 * clusters), n_init=3, random_state=seed
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. fewer distinct descriptors than K on tiny data
        km.fit(x)
    return np.ascontiguousarray(km.cluster_centers_, dtype=np.float32), method


def fit_svms(
    histograms: np.ndarray,
    targets: np.ndarray,
    c: float = 1.0,
    *,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """One linear SVM per tag column, one-vs-rest: weights (V, K), biases (V,), constant tags' indices.

    A tag without a positive (or without a negative) training photo cannot be fitted: it gets zero
    weights and a bias of -CONSTANT_SCORE (+CONSTANT_SCORE), so it ranks last (first) everywhere.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    n, k = histograms.shape
    v = targets.shape[1]
    weights = np.zeros((v, k), np.float32)
    bias = np.zeros(v, np.float32)
    constant: list[int] = []
    for j in range(v):
        y = targets[:, j].astype(bool)
        positives = int(y.sum())
        if positives in (0, n):
            bias[j] = CONSTANT_SCORE if positives else -CONSTANT_SCORE
            constant.append(j)
        else:
            svm = LinearSVC(C=c, dual=False, max_iter=10_000, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                svm.fit(histograms, y.astype(np.int64))
            weights[j] = svm.coef_[0]
            bias[j] = svm.intercept_[0]
        if progress is not None:
            progress("svm", j + 1, v, unit="tag")
    return weights, bias, constant


@dataclass
class _Descriptors:
    """Every kept photo's SIFT descriptors, training and validation, with the records they belong to."""

    train: list[np.ndarray]
    train_records: list[Any]
    val: list[np.ndarray]
    val_records: list[Any]
    skipped: int


@dataclass
class _Fitted:
    """The model a bovw_svm run learns: visual words and one linear SVM per tag."""

    centroids: np.ndarray
    method: str
    weights: np.ndarray
    bias: np.ndarray


def train_bovw(
    cfg: Config,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train, validate and save a bovw_svm model from a resolved Config (data.path already absolute)."""
    from hashtagger.data import load_dataset

    cv2 = require_bovw_dependencies()
    progress = progress or Progress()
    should_stop = should_stop or (lambda: False)
    started = time.perf_counter()
    dataset = load_dataset(
        cfg.data.path,
        layout=cfg.data.format,
        seed=cfg.seed,
        val_fraction=cfg.data.val_fraction,
        test_size=cfg.data.test_size,
        write_split_file=True,
    )
    data = training_data(cfg, dataset, progress)
    desc = _descriptors(cfg, data, cv2, progress, should_stop)
    if desc is None:
        progress.message(
            "interrupted during descriptor extraction; computed descriptors stay cached, run again to go on"
        )
        return TrainResult(Path(cfg.out), 0, 1, _best_metric(cfg), None, interrupted=True)
    fitted = _fit(cfg, data.vocab, desc, progress)
    val = _validate(cfg, data.vocab, desc, fitted)
    seconds = time.perf_counter() - started
    row: dict[str, Any] = {
        "epoch": 1,
        "step": 0,
        "train_images": len(desc.train_records),
        "skipped": desc.skipped,
        "images_per_s": len(data.records) / seconds if seconds > 0 else 0.0,
        "seconds": seconds,
    }
    for key in METRIC_COLUMNS:
        if key in val:
            row[f"val_{key}"] = float(val[key])
    _save(cfg, data, fitted, row, str(cv2.__version__), progress)
    metric = _best_metric(cfg)
    value = val.get(metric)
    return TrainResult(Path(cfg.out), 1, 1, metric, None if value is None else float(value), history=[row])


def _descriptors(
    cfg: Config, data: TrainingData, cv2: Any, progress: Progress, should_stop: Callable[[], bool]
) -> _Descriptors | None:
    """SIFT of every photo through the shared per-photo cache pass; None when interrupted.

    Descriptors are computed from exactly the arrays prediction decodes (pre.load_array).
    """
    from hashtagger.cache import default_cache_dir
    from hashtagger.train.features import fill_cache

    b = cfg.bovw
    pre = bovw_preprocessing(b.image_size)
    root = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else default_cache_dir()
    cache = DescriptorCache(root, pre, b.max_descriptors_per_image, cv2.__version__)
    workers = default_extract_workers() if b.workers is None else b.workers
    compute = SiftPass(cache, pre, b.max_descriptors_per_image, workers)
    keys, filled = fill_cache(
        "descriptor", data.records, cache, compute, progress, workers=workers, should_stop=should_stop
    )
    if should_stop():
        return None
    n_train = len(data.train)
    train_desc, train_kept = load_descriptors(keys[:n_train], cache)
    val_desc, val_kept = load_descriptors(keys[n_train:], cache)
    skipped = len(keys) - len(train_kept) - len(val_kept)
    if skipped:
        first = f" (first: {filled.errors[0]})" if filled.errors else ""
        progress.message(
            f"{skipped} photo{'s' if skipped != 1 else ''} could not be decoded and "
            f"{'are' if skipped != 1 else 'is'} left out{first}"
        )
    if not train_kept:
        raise DatasetError(f"{cfg.data.path}: no training photo could be decoded")
    return _Descriptors(
        train_desc,
        [data.train[i] for i in train_kept],
        val_desc,
        [data.val[i] for i in val_kept],
        skipped,
    )


def _fit(cfg: Config, vocab: list[str], desc: _Descriptors, progress: Progress) -> _Fitted:
    """Visual vocabulary by k-means, histograms, one SVM per tag; each stage says what it did."""
    from hashtagger.data.loader import tag_indices

    b = cfg.bovw
    t0 = time.perf_counter()
    centroids, method = fit_vocabulary(
        desc.train, b.clusters, method=b.kmeans, sample=b.kmeans_sample, seed=cfg.seed
    )
    n_desc = sum(len(d) for d in desc.train)
    used = min(n_desc, b.kmeans_sample) if b.kmeans_sample else n_desc
    progress.message(
        f"k-means ({method}): {b.clusters} visual words from {used:,} of {n_desc:,} training descriptors "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    t0 = time.perf_counter()
    hist = encode(desc.train, centroids, b.histogram)
    ids, _ = tag_indices(desc.train_records, vocab)
    weights, bias, constant = fit_svms(
        hist, _multi_hot(ids, len(vocab)), b.svm_c, seed=cfg.seed, progress=progress
    )
    progress.close()
    get = "gets" if len(constant) == 1 else "get"
    note = f"; {plural(len(constant), 'tag')} with one class only {get} a constant score" if constant else ""
    progress.message(
        f"svm: {len(vocab)} one-vs-rest linear SVMs (C={b.svm_c:g}) on {len(desc.train_records)} "
        f"{b.histogram} histograms in {time.perf_counter() - t0:.1f}s{note}"
    )
    return _Fitted(centroids, method, weights, bias)


def _validate(cfg: Config, vocab: list[str], desc: _Descriptors, fitted: _Fitted) -> dict[str, float]:
    """The same encoding and metrics as prediction and `hashtagger evaluate`."""
    from hashtagger.data.loader import tag_indices
    from hashtagger.metrics import ranking_metrics

    if not desc.val_records:
        return {}
    scores = encode(desc.val, fitted.centroids, cfg.bovw.histogram) @ fitted.weights.T + fitted.bias
    vids, n_true = tag_indices(desc.val_records, vocab)
    return ranking_metrics(scores, _multi_hot(vids, len(vocab)), n_true=np.asarray(n_true), ks=EVAL_KS)


def _save(
    cfg: Config, data: TrainingData, fitted: _Fitted, row: dict[str, Any], opencv: str, progress: Progress
) -> None:
    """config.yaml, best.pt = last.pt (nothing to choose between), metrics.csv; then the summary line."""
    import torch

    b = cfg.bovw
    run_dir = Path(cfg.out)
    payload = {
        "kind": "bovw_svm",
        "arch": {
            "descriptor": "sift",
            "clusters": int(b.clusters),
            "max_descriptors_per_image": int(b.max_descriptors_per_image),
            "histogram": b.histogram,
            "image_size": int(b.image_size),
            "kmeans": fitted.method,
            "svm_c": float(b.svm_c),
            "opencv": opencv,
        },
        "vocabulary": list(data.vocab),
        "preprocessing": bovw_preprocessing(b.image_size).to_dict(),
        "config": config_to_dict(cfg),
        "tag_counts": data.tag_counts,
        "centroids": torch.from_numpy(fitted.centroids),
        "svm_weights": torch.from_numpy(fitted.weights),
        "svm_bias": torch.from_numpy(fitted.bias),
        "epoch": 1,
        "metrics": {k: v for k, v in row.items() if isinstance(v, (int, float))},
    }
    dump_config(cfg, run_dir / "config.yaml")
    write_checkpoints(run_dir, payload, best=True)
    run_log = RunLog(
        run_dir, enabled=True, tensorboard=False, keep_epochs=0, progress=progress, resumed=False
    )
    run_log.write(row)
    run_log.close()
    progress.epoch_end(row)
    progress.message(_summary(row))


def _best_metric(cfg: Config) -> str:
    """train.best_metric, except 'loss': an SVM has no validation loss comparable to the classifier's."""
    return "map" if cfg.train.best_metric == "loss" else cfg.train.best_metric


def _multi_hot(ids: Sequence[Sequence[int]], num_tags: int) -> np.ndarray:
    out = np.zeros((len(ids), num_tags), dtype=bool)
    for row, cols in enumerate(ids):
        out[row, list(cols)] = True
    return out


def _summary(row: dict[str, Any]) -> str:
    parts = ["bovw_svm", f"{row['train_images']} training photos"]
    for key, label in (("val_map", "mAP"), ("val_accuracy@1", "acc@1"), ("val_accuracy@5", "acc@5")):
        if key in row:
            parts.append(f"{label} {row[key]:.4f}")
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts)
