"""Scores -> hashtags: top-k selection with thresholds, streamed in input order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from hashtagger.models.base import Tagger
from hashtagger.predict.output import Hashtag, Prediction
from hashtagger.predict.pipeline import Encoded, Failed, Scored, score_paths


def select_hashtags(
    scores: np.ndarray,
    vocabulary: list[str],
    top_k: int = 10,
    threshold: float | None = None,
    thresholds: list[float] | None = None,
) -> list[Hashtag]:
    """Top-k tags, best first (ties: earlier vocabulary entry first), minus those under the cut-off.

    `threshold` (the user's) wins over per-tag calibrated `thresholds` stored with the model.
    """
    from hashtagger.metrics import top_k_indices

    idx = top_k_indices(scores[None, :], min(top_k, len(vocabulary)))[0]
    out = []
    for i in idx:
        s = float(scores[i])
        cut = threshold if threshold is not None else (thresholds[i] if thresholds is not None else None)
        if cut is not None and s < cut:
            continue
        out.append(Hashtag(vocabulary[i], s))
    return out


def predict_paths(
    tagger: Tagger,
    items: Iterable[str | Encoded | Failed],
    *,
    top_k: int = 10,
    threshold: float | None = None,
    use_calibration: bool = True,
    batch_size: int = 32,
    workers: int | None = None,
) -> Iterator[Prediction]:
    """Stream predictions in input order (see pipeline.score_paths for batching)."""
    thresholds = tagger.thresholds if use_calibration else None
    scored: Scored
    for scored in score_paths(tagger, items, batch_size=batch_size, workers=workers):
        if scored.error is not None or scored.scores is None:
            yield Prediction(scored.path, error=scored.error or "no scores")
        else:
            yield Prediction(
                scored.path, select_hashtags(scored.scores, tagger.vocabulary, top_k, threshold, thresholds)
            )
