"""Per-tag score thresholds fitted on validation data and stored in the checkpoint.

A single cut-off such as 0.5 suits no tag in particular: frequent tags want a high bar, rare ones a
low one. `evaluate --calibrate` fits each tag's best-F1 threshold on the validation split (rare
tags, whose optimum would be noise, share one global threshold) and writes them into the
checkpoint, atomically, so that `predict` applies them by default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from hashtagger.errors import CheckpointError, InputError

#: Tags with fewer validation positives than this get the global fallback threshold.
MIN_POSITIVES = 3
METHOD = "best F1 per tag; tags with under {n} validation positives: the best global (micro-F1) threshold"


def fit_calibration(
    scores: np.ndarray, targets: np.ndarray, *, min_positives: int = MIN_POSITIVES
) -> tuple[np.ndarray, dict[str, Any]]:
    """Thresholds (V,) and a JSON-ready summary of how they were fitted.

    Raises InputError when no validation image has a tag of the vocabulary: nothing to fit on.
    """
    from hashtagger.metrics import fit_thresholds

    targets = np.asarray(targets, dtype=bool)
    if targets.size == 0 or not targets.any():
        raise InputError("cannot calibrate: no validation image has a tag of the model's vocabulary")
    thresholds = fit_thresholds(scores, targets, min_positives=min_positives)
    fitted = targets.sum(axis=0) >= min_positives
    fallback = None if fitted.all() else float(thresholds[~fitted][0])
    return thresholds, {
        "method": METHOD.format(n=min_positives),
        "min_positives": int(min_positives),
        "fitted_tags": int(fitted.sum()),
        "fallback_tags": int((~fitted).sum()),
        "fallback_threshold": fallback,
    }


def fit_validation(scores: np.ndarray, targets: np.ndarray) -> tuple[list[float] | None, dict[str, Any]]:
    """Thresholds fitted on a validation split's scores, with the calibration summary a checkpoint stores;
    (None, {"reason": ...}) when there is nothing to fit on, so that training can say why in one line."""
    targets = np.asarray(targets, dtype=bool)
    if len(targets) == 0:
        return None, {"reason": "the data has no validation photos"}
    try:
        thresholds, info = fit_calibration(scores, targets)
    except InputError:
        return None, {"reason": "no validation photo has a tag of the vocabulary"}
    return [float(t) for t in thresholds], {"split": "validation", "images": int(len(targets)), **info}


def describe_thresholds(thresholds: Sequence[float], info: dict[str, Any]) -> str:
    """One line: how many photos the thresholds were fitted on, their range, and how many tags share one."""
    thr = np.asarray(thresholds, dtype=np.float64)
    shared, images = int(info.get("fallback_tags", 0)), f"{info['images']:,} validation photos"
    if shared == len(thr):
        return (
            f"fitted on {images}: one threshold, {thr[0]:.2f}, for all {len(thr)} tags "
            f"(none has {info['min_positives']} positives there)"
        )
    share = "1 rare tag takes" if shared == 1 else f"{shared} rare tags share"
    rare = f", of which {share} the global {info['fallback_threshold']:.2f}" if shared else ""
    return f"fitted on {images}: {len(thr)} per-tag thresholds from {thr.min():.2f} to {thr.max():.2f}{rare}"


def store_thresholds(
    path: str | os.PathLike[str], thresholds: np.ndarray, vocabulary: Sequence[str], info: dict[str, Any]
) -> None:
    """Write `thresholds` (key 'thresholds', aligned with the vocabulary) and `calibration` into a checkpoint.

    The file is re-read first and must still hold the vocabulary the thresholds were fitted for;
    the rewrite is atomic, so an interrupted run leaves the old checkpoint intact.
    """
    from hashtagger.models.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(path)
    if [str(t) for t in ckpt["vocabulary"]] != list(vocabulary):
        raise CheckpointError(f"{path}: its vocabulary changed while it was being calibrated; run again")
    thr = np.asarray(thresholds, dtype=np.float64)
    if thr.shape != (len(vocabulary),):
        raise ValueError(f"{thr.size} thresholds for {len(vocabulary)} tags")
    ckpt["thresholds"] = [float(t) for t in thr]
    ckpt["calibration"] = dict(info)
    save_checkpoint(path, ckpt)
