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
from pathlib import Path
from typing import Any

import numpy as np

from hashtagger.errors import DatasetError, MissingDependencyError
from hashtagger.models.bovw import encode
from hashtagger.models.sift import (
    INSTALL_HINT,
    DescriptorCache,
    bovw_preprocessing,
    default_extract_workers,
    extract_missing,
    load_descriptors,
)
from hashtagger.train.config import Config, config_to_dict, dump_config
from hashtagger.train.engine import EVAL_KS, Progress, TrainResult, training_data, write_checkpoints
from hashtagger.train.runlog import METRIC_COLUMNS, RunLog

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
    progress: Callable[[int], None] | None = None,
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
            progress(1)
    return weights, bias, constant


def train_bovw(
    cfg: Config,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train, validate and save a bovw_svm model from a resolved Config (data.path already absolute)."""
    import torch

    from hashtagger.data import load_dataset
    from hashtagger.data.loader import tag_indices
    from hashtagger.metrics import ranking_metrics
    from hashtagger.train.features import default_cache_dir, digests

    cv2 = require_bovw_dependencies()
    progress = progress or Progress()
    should_stop = should_stop or (lambda: False)
    b = cfg.bovw
    started = time.perf_counter()
    run_dir = Path(cfg.out)

    dataset = load_dataset(
        cfg.data.path,
        seed=cfg.seed,
        val_fraction=cfg.data.val_fraction,
        test_size=cfg.data.test_size,
        write_split_file=True,
    )
    data = training_data(cfg, dataset, progress)
    vocab, train_records, val_records, tag_counts = data.vocab, data.train, data.val, data.tag_counts

    # Descriptors: computed from exactly the arrays prediction decodes (pre.load_array).
    pre = bovw_preprocessing(b.image_size)
    root = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else default_cache_dir()
    cache = DescriptorCache(root, pre, b.max_descriptors_per_image, cv2.__version__)
    records = list(train_records) + list(val_records)
    workers = default_extract_workers() if b.workers is None else b.workers
    keys = digests(records, workers=max(1, workers))
    todo = len({k for k in keys if k is not None and not cache.path(k).exists()})
    progress.message(
        f"descriptor cache: {cache.folder} ({len(records) - todo} of {len(records)} photos cached)"
    )
    errors: list[str] = []
    if todo:
        progress.start("sift", total=todo, unit="img")
        errors = extract_missing(
            records,
            keys,
            cache,
            pre,
            b.max_descriptors_per_image,
            workers=workers,
            progress=lambda n: progress.update(n),
            should_stop=should_stop,
        )
        progress.close()
    if should_stop():
        progress.message(
            "interrupted during descriptor extraction; computed descriptors stay cached, run again to go on"
        )
        return TrainResult(run_dir, 0, 1, _best_metric(cfg), None, interrupted=True)
    n_train = len(train_records)
    train_desc, train_kept = load_descriptors(keys[:n_train], cache)
    val_desc, val_kept = load_descriptors(keys[n_train:], cache)
    skipped = len(records) - len(train_kept) - len(val_kept)
    if skipped:
        progress.message(
            f"{skipped} photo{'s' if skipped != 1 else ''} could not be decoded and "
            f"{'are' if skipped != 1 else 'is'} left out" + (f" (first: {errors[0]})" if errors else "")
        )
    if not train_kept:
        raise DatasetError(f"{cfg.data.path}: no training photo could be decoded")

    # Visual vocabulary, histograms, SVMs.
    t0 = time.perf_counter()
    centroids, method = fit_vocabulary(
        train_desc, b.clusters, method=b.kmeans, sample=b.kmeans_sample, seed=cfg.seed
    )
    n_desc = sum(len(d) for d in train_desc)
    used = min(n_desc, b.kmeans_sample) if b.kmeans_sample else n_desc
    progress.message(
        f"k-means ({method}): {b.clusters} visual words from {used:,} of {n_desc:,} training descriptors "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    t0 = time.perf_counter()
    kept_train = [train_records[i] for i in train_kept]
    hist = encode(train_desc, centroids, b.histogram)
    ids, _ = tag_indices(kept_train, vocab)
    targets = _multi_hot(ids, len(vocab))
    progress.start("svm", total=len(vocab), unit="tag")
    weights, bias, constant = fit_svms(
        hist, targets, b.svm_c, seed=cfg.seed, progress=lambda n: progress.update(n)
    )
    progress.close()
    note = f"; {len(constant)} tag(s) with one class only get a constant score" if constant else ""
    progress.message(
        f"svm: {len(vocab)} one-vs-rest linear SVMs (C={b.svm_c:g}) on {len(kept_train)} "
        f"{b.histogram} histograms in {time.perf_counter() - t0:.1f}s{note}"
    )

    # Validation, with the same encoding and metrics as prediction and `hashtagger evaluate`.
    val: dict[str, float] = {}
    if val_kept:
        kept_val = [val_records[i] for i in val_kept]
        scores = encode(val_desc, centroids, b.histogram) @ weights.T + bias
        vids, n_true = tag_indices(kept_val, vocab)
        val = ranking_metrics(scores, _multi_hot(vids, len(vocab)), n_true=np.asarray(n_true), ks=EVAL_KS)

    seconds = time.perf_counter() - started
    row: dict[str, Any] = {
        "epoch": 1,
        "step": 0,
        "train_images": len(kept_train),
        "skipped": skipped,
        "images_per_s": len(records) / seconds if seconds > 0 else 0.0,
        "seconds": seconds,
    }
    for key in METRIC_COLUMNS:
        if key in val:
            row[f"val_{key}"] = float(val[key])
    payload = {
        "kind": "bovw_svm",
        "arch": {
            "descriptor": "sift",
            "clusters": int(b.clusters),
            "max_descriptors_per_image": int(b.max_descriptors_per_image),
            "histogram": b.histogram,
            "image_size": int(b.image_size),
            "kmeans": method,
            "svm_c": float(b.svm_c),
            "opencv": str(cv2.__version__),
        },
        "vocabulary": list(vocab),
        "preprocessing": pre.to_dict(),
        "config": config_to_dict(cfg),
        "tag_counts": tag_counts,
        "centroids": torch.from_numpy(centroids),
        "svm_weights": torch.from_numpy(weights),
        "svm_bias": torch.from_numpy(bias),
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
    metric = _best_metric(cfg)
    value = val.get(metric)
    return TrainResult(run_dir, 1, 1, metric, None if value is None else float(value), history=[row])


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
