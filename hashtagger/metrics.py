"""Ranking and threshold metrics for multi-label hashtag prediction (pure numpy).

Shared by the training loop (validation mAP, Accuracy@5) and ``hashtagger evaluate`` so that both
report the same numbers, and by prediction (``top_k_indices``) so that the same tie rule applies
everywhere. Inputs are ``scores``, a float array (N, V) where higher is better, and ``targets``, a
bool array (N, V) of each image's ground-truth tags inside the vocabulary.

Definitions (HARRISON, Park, Li, Kim 2016), each averaged over the N images:

- Precision@K = |topK ∩ truth| / K. When K > V the top-K is the whole vocabulary but the
  denominator stays K, so a model cannot gain precision from a small vocabulary.
- Recall@K = |topK ∩ truth| / |truth|, where |truth| is ``n_true`` (which counts tags outside
  the vocabulary too) or, when omitted, ``targets.sum(1)``. Images with |truth| = 0 contribute 0
  and still count in N: dropping them would flatter a model on images it cannot tag.
- Accuracy@K (hit rate) = 1 if topK ∩ truth ≠ ∅ else 0.
- F1@K = 2·P·R / (P + R) of the *averaged* P@K and R@K (not the mean of per-image F1), the
  definition common in hashtag papers; 0 when both are 0.

Tie rule, everywhere: sort by score descending and break ties by the lower index first (tag index
when ranking tags for an image, image index when ranking images for a tag). Results therefore never
depend on the sorting algorithm or the platform.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "average_precision",
    "fit_thresholds",
    "head_tail_map",
    "mean_average_precision",
    "popularity_scores",
    "ranking_metrics",
    "threshold_metrics",
    "top_k_indices",
]

# Elements per working block: bounds temporaries to a few tens of MB whatever N and V are.
_BLOCK = 1 << 22


def _as_scores(scores: np.ndarray, ndim: tuple[int, ...] = (2,)) -> np.ndarray:
    """Return scores as a float array, rejecting NaN (it has no place in a ranking)."""
    s = np.asarray(scores)
    if s.ndim not in ndim:
        raise ValueError(f"scores must have {' or '.join(map(str, ndim))} dimensions, got shape {s.shape}")
    if not np.issubdtype(s.dtype, np.floating):
        if not (np.issubdtype(s.dtype, np.integer) or s.dtype == bool):
            raise ValueError(f"scores must be numeric, got dtype {s.dtype}")
        s = s.astype(np.float64)
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return s


def _as_targets(targets: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return targets as bool of the scores' shape; 0/1 integers are accepted too."""
    t = np.asarray(targets)
    if t.shape != shape:
        raise ValueError(f"targets shape {t.shape} does not match scores shape {shape}")
    if t.dtype != bool:
        if not ((t == 0) | (t == 1)).all():
            raise ValueError("targets must be bool or 0/1")
        t = t.astype(bool)
    return t


def _check(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = _as_scores(scores)
    return s, _as_targets(targets, s.shape)


def _rows_per_block(width: int) -> int:
    return max(1, _BLOCK // max(1, width))


def _stable_desc_argsort(block: np.ndarray) -> np.ndarray:
    """Argsort each row by value descending, ties by lower column index first.

    Sorts with the fast unstable sort, then puts each run of equal scores back in index order by
    sorting the integer keys run·W + index (unique, so any sort is exact): the result equals a
    stable descending sort at a fraction of its cost (float32 scores over many images tie often).
    """
    neg = -block
    order = np.argsort(neg, axis=1)
    ranked = np.take_along_axis(neg, order, axis=1)
    new_run = ranked[:, 1:] != ranked[:, :-1]
    tied = ~new_run.all(axis=1)
    if tied.any():
        w = block.shape[1]
        run = np.zeros((int(tied.sum()), w), dtype=np.int64)
        np.cumsum(new_run[tied], axis=1, out=run[:, 1:])
        key = np.sort(run * w + order[tied], axis=1)
        order[tied] = key % w
    return order


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best tags per row, best first; ties go to the lower tag index.

    Predict, evaluate and the metrics all call this so that a tag shown to a user is a tag that
    was scored. Accepts (N, V) or (V,) scores and returns (N, min(k, V)) or (min(k, V),): when
    k > V the whole vocabulary is returned, ranked. Uses argpartition-style selection, so the cost
    is about O(N·V), not a full sort.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    s = _as_scores(scores, ndim=(1, 2))
    if s.ndim == 1:
        return top_k_indices(s[None, :], k)[0]
    n, v = s.shape
    kk = min(int(k), v)
    out = np.empty((n, kk), dtype=np.intp)
    if kk == 0:
        return out
    step = _rows_per_block(v)
    for start in range(0, n, step):
        block = s[start : start + step]
        if 4 * kk >= v:
            out[start : start + step] = _stable_desc_argsort(block)[:, :kk]
            continue
        # The k-th largest value per row; everything above it is in, and the ties *at* it are
        # taken lowest index first until each row has exactly kk.
        kth = np.partition(block, v - kk, axis=1)[:, v - kk, None]
        above = block > kth
        need = kk - above.sum(axis=1, keepdims=True)
        at = block == kth
        chosen = above | (at & (np.cumsum(at, axis=1) <= need))
        cols = np.nonzero(chosen)[1].reshape(-1, kk)  # ascending column index per row
        vals = np.take_along_axis(block, cols, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")  # stable: ties keep the lower index first
        out[start : start + step] = np.take_along_axis(cols, order, axis=1)
    return out


def ranking_metrics(
    scores: np.ndarray,
    targets: np.ndarray,
    n_true: np.ndarray | None = None,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """P@K, R@K, A@K, F1@K for each K in ks, and mAP, as one flat dict of floats.

    Keys, in order: ``precision@K, recall@K, accuracy@K, f1@K`` for each K, then ``map``.
    ``n_true`` (N,) is each image's full ground-truth count, including tags outside the vocabulary,
    so that Recall@K matches HARRISON's; it must be >= the in-vocabulary count. Definitions and the
    tie rule are in the module docstring; ``map`` is ``mean_average_precision``.
    """
    s, t = _check(scores, targets)
    n, v = s.shape
    if n == 0 or v == 0:
        raise ValueError(f"cannot evaluate an empty score matrix of shape {s.shape}")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    in_vocab = t.sum(axis=1)
    if n_true is None:
        truth = in_vocab
    else:
        truth = np.asarray(n_true)
        if truth.shape != (n,):
            raise ValueError(f"n_true must have shape ({n},), got {truth.shape}")
        if (truth < in_vocab).any():
            raise ValueError("n_true is smaller than the number of in-vocabulary targets for some image")
    truth = truth.astype(np.float64)

    top = top_k_indices(s, max(ks))
    # The ranking is a total order, so top-k for a smaller k is a prefix of the top-max(ks).
    hits_cum = np.cumsum(np.take_along_axis(t, top, axis=1), axis=1)
    has_truth = truth > 0
    denom = np.where(has_truth, truth, 1.0)
    out: dict[str, float] = {}
    for k in ks:
        hits = hits_cum[:, min(k, v) - 1].astype(np.float64)
        p = float(np.mean(hits / k))
        r = float(np.mean(np.where(has_truth, hits / denom, 0.0)))
        out[f"precision@{k}"] = p
        out[f"recall@{k}"] = r
        out[f"accuracy@{k}"] = float(np.mean(hits > 0))
        out[f"f1@{k}"] = 2 * p * r / (p + r) if p + r > 0 else 0.0
    out["map"] = mean_average_precision(s, t)
    return out


def average_precision(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-tag average precision (V,), NaN for tags without a positive image.

    For each tag, images are ranked by that tag's score descending, ties by lower image index first;
    AP = mean over the tag's positive images of precision at that image's rank. NaN (not 0) marks
    tags the data cannot judge, so callers choose how to skip them.
    """
    s, t = _check(scores, targets)
    n, v = s.shape
    ap = np.full(v, np.nan)
    if n == 0:
        return ap
    ranks = np.arange(1, n + 1, dtype=np.float64)
    step = _rows_per_block(n)
    for start in range(0, v, step):
        cols = slice(start, start + step)
        pos = t[:, cols].sum(axis=0)
        order = _stable_desc_argsort(np.ascontiguousarray(s[:, cols].T))
        hit = np.take_along_axis(np.ascontiguousarray(t[:, cols].T), order, axis=1)
        prec = np.cumsum(hit, axis=1) / ranks
        with np.errstate(invalid="ignore", divide="ignore"):
            ap[cols] = np.where(pos > 0, (prec * hit).sum(axis=1) / pos, np.nan)
    return ap


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean AP over the tags with at least one positive image; NaN if no tag has one."""
    ap = average_precision(scores, targets)
    judged = ~np.isnan(ap)
    return float(ap[judged].mean()) if judged.any() else float("nan")


def head_tail_map(
    ap: np.ndarray,
    *,
    targets: np.ndarray | None = None,
    frequencies: np.ndarray | None = None,
    head_fraction: float = 0.1,
) -> dict[str, float]:
    """Mean AP of the most frequent tenth of tags ("head") and of the rest ("tail").

    A single mAP hides whether a model only learnt the popular tags. Frequency comes from exactly one
    of ``targets`` (positives per tag in the evaluated set) or ``frequencies`` (V,), e.g. training
    counts, or ``-rank`` for a vocabulary listed most frequent first. The head is the
    ceil(head_fraction·V) most frequent tags, ties to the lower tag index. NaN APs are skipped;
    a group without any judged tag gives NaN. Returns ``{"map_head", "map_tail"}``.
    """
    ap = np.asarray(ap, dtype=np.float64)
    if ap.ndim != 1:
        raise ValueError(f"ap must be 1-D, got shape {ap.shape}")
    if (targets is None) == (frequencies is None):
        raise ValueError("give exactly one of targets or frequencies")
    if not 0 < head_fraction < 1:
        raise ValueError(f"head_fraction must be in (0, 1), got {head_fraction}")
    if targets is not None:
        freq = np.asarray(targets).sum(axis=0)
    else:
        freq = np.asarray(frequencies)
    if freq.shape != ap.shape:
        raise ValueError(f"frequencies shape {freq.shape} does not match ap shape {ap.shape}")
    v = ap.shape[0]
    n_head = min(v, int(np.ceil(head_fraction * v)))
    head = np.zeros(v, dtype=bool)
    if n_head:
        head[top_k_indices(freq, n_head)] = True

    def group_mean(mask: np.ndarray) -> float:
        vals = ap[mask & ~np.isnan(ap)]
        return float(vals.mean()) if vals.size else float("nan")

    return {"map_head": group_mean(head), "map_tail": group_mean(~head)}


def _confusion(s: np.ndarray, t: np.ndarray, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-tag TP, FP, FN counts for predictions ``scores >= thr``, in row blocks."""
    v = s.shape[1]
    tp = np.zeros(v, dtype=np.int64)
    fp = np.zeros(v, dtype=np.int64)
    fn = np.zeros(v, dtype=np.int64)
    step = _rows_per_block(v)
    for start in range(0, s.shape[0], step):
        pred = s[start : start + step] >= thr
        true = t[start : start + step]
        tp += (pred & true).sum(axis=0)
        fp += (pred & ~true).sum(axis=0)
        fn += (~pred & true).sum(axis=0)
    return tp, fp, fn


def _as_thresholds(thresholds: float | np.ndarray, v: int) -> np.ndarray:
    thr = np.asarray(thresholds, dtype=np.float64)
    if thr.ndim == 0:
        thr = np.full(v, float(thr))
    if thr.shape != (v,):
        raise ValueError(f"thresholds must be a scalar or shape ({v},), got {thr.shape}")
    if np.isnan(thr).any():
        raise ValueError("thresholds contain NaN")
    return thr


def threshold_metrics(
    scores: np.ndarray, targets: np.ndarray, thresholds: float | np.ndarray
) -> dict[str, float]:
    """Micro and macro F1 of the predictions ``scores >= thresholds`` (scalar or per-tag (V,)).

    ``f1_micro`` pools TP/FP/FN over all images and tags: 2·TP / (2·TP + FP + FN), 0 when nothing is
    true or predicted. ``f1_macro`` is the mean per-tag F1 over the tags with at least one positive
    image (false alarms on the other tags still lower ``f1_micro``); NaN if no tag has a positive.
    """
    s, t = _check(scores, targets)
    tp, fp, fn = _confusion(s, t, _as_thresholds(thresholds, s.shape[1]))
    denom = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / denom) if denom else 0.0
    judged = (tp + fn) > 0
    per_tag = 2 * tp[judged] / (2 * tp[judged] + fp[judged] + fn[judged])
    macro = float(per_tag.mean()) if judged.any() else float("nan")
    return {"f1_micro": micro, "f1_macro": macro}


def _best_threshold(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """The threshold t maximising F1 of ``scores >= t`` over a flat set of (score, label) pairs.

    Only positives' scores need trying: raising t up to the next positive's score keeps every true
    positive and can only drop false ones. Returns (t, F1); among equal F1 the highest t wins
    (fewest predictions). t is an observed score, so the result is exact on the fitted data.
    """
    pos = np.sort(scores[targets])
    n_pos = pos.size
    if n_pos == 0:
        raise ValueError("no positive labels to fit a threshold on")
    ordered = np.sort(scores, axis=None)
    cand = np.unique(pos)
    tp = n_pos - np.searchsorted(pos, cand, side="left")
    n_pred = ordered.size - np.searchsorted(ordered, cand, side="left")
    f1 = 2 * tp / (n_pred + n_pos)
    best = cand.size - 1 - int(np.argmax(f1[::-1]))
    return float(cand[best]), float(f1[best])


def fit_thresholds(
    scores: np.ndarray,
    targets: np.ndarray,
    min_positives: int = 3,
    fallback: float | None = None,
) -> np.ndarray:
    """Per-tag thresholds (V,) that maximise each tag's F1 on the given (validation) data.

    Tags with fewer than ``min_positives`` positives would get a threshold fitted to noise, so they
    get ``fallback`` instead: by default the single global threshold that maximises micro F1 over
    all tags, found by the same search on the pooled scores. Thresholds are observed scores and
    predictions are ``scores >= threshold``; among equal F1 the higher threshold wins.
    """
    s, t = _check(scores, targets)
    if isinstance(min_positives, bool) or int(min_positives) != min_positives or min_positives < 1:
        raise ValueError(f"min_positives must be an integer >= 1, got {min_positives!r}")
    v = s.shape[1]
    pos = t.sum(axis=0)
    fitted = pos >= min_positives
    if fallback is None:
        if fitted.all():
            fallback = float("nan")  # never used
        else:
            fallback = _best_threshold(s, t)[0]
    thr = np.full(v, float(fallback), dtype=np.float64)
    for j in np.flatnonzero(fitted):
        thr[j] = _best_threshold(s[:, j], t[:, j])[0]
    return thr


def popularity_scores(n_images: int, frequencies: np.ndarray) -> np.ndarray:
    """Scores (n_images, V) of the label-popularity baseline: every image gets the tag frequencies.

    The "always predict the most frequent tags" row of HARRISON's table. Higher frequency ranks
    higher and equal frequencies rank the lower tag index first, through ``top_k_indices``'s rule.
    Returns a read-only broadcast view (no N×V memory); wrap it in ``np.array`` to get a copy.
    """
    if isinstance(n_images, bool) or int(n_images) != n_images or n_images < 0:
        raise ValueError(f"n_images must be a non-negative integer, got {n_images!r}")
    freq = np.asarray(frequencies, dtype=np.float64)
    if freq.ndim != 1:
        raise ValueError(f"frequencies must be 1-D, got shape {freq.shape}")
    if not np.isfinite(freq).all():
        raise ValueError("frequencies must be finite")
    return np.broadcast_to(freq, (int(n_images), freq.shape[0]))
