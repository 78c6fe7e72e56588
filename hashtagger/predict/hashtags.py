"""Scores -> hashtags: top-k selection with thresholds, streamed in input order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from hashtagger.models.base import Tagger
from hashtagger.predict.kinds import KINDS
from hashtagger.predict.pipeline import Encoded, Failed, Scored, score_paths
from hashtagger.predict.predictions import Hashtag, Prediction
from hashtagger.rank import Ranked


@dataclass(frozen=True)
class Selection:
    """Which of a photo's scored tags become its hashtags: predict_paths' keywords, as one value that
    the CLI builds once and the local and Ray engines share (-k, -t, --no-calibration, --only)."""

    top_k: int = 10
    threshold: float | None = None
    use_calibration: bool = True
    only: str | None = None


def select_hashtags(
    scores: np.ndarray,
    vocabulary: list[str],
    top_k: int = 10,
    threshold: float | None = None,
    thresholds: list[float] | None = None,
    parts: Ranked | None = None,
    only: str | None = None,
) -> list[Hashtag]:
    """Top-k tags, best first (ties: earlier vocabulary entry first), minus those under the cut-off.

    `threshold` (the user's) wins over per-tag calibrated `thresholds` stored with the model. Calibrated
    thresholds (fitted for F1) never leave a photo without its best tag; the user's own threshold may.
    `parts` (one photo's ranking parts) explain each tag; `only="content"` skips reach tags (#love)
    and fills the list with the next content tags, `only="reach"` keeps just the reach tags (none
    without parts: such a model ranks no tag as reach).
    """
    from hashtagger.metrics import top_k_indices

    if only == "reach" and parts is None:
        return []
    skip = None
    if parts is not None and only in KINDS:
        skip = parts.reach if only == "content" else ~parts.reach
    depth = len(vocabulary) if skip is not None else min(top_k, len(vocabulary))
    idx = top_k_indices(scores[None, :], depth)[0]
    out: list[Hashtag] = []
    for i in idx:
        if len(out) == top_k:
            break
        if skip is not None and skip[i]:
            continue
        s = float(scores[i])
        cut = threshold if threshold is not None else (thresholds[i] if thresholds is not None else None)
        if cut is not None and s < cut:
            continue
        out.append(Hashtag(vocabulary[i], s, parts.explain(int(i), vocabulary) if parts is not None else {}))
    if not out and threshold is None and thresholds is not None:
        return select_hashtags(scores, vocabulary, 1, None, None, parts, only)
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
    only: str | None = None,
) -> Iterator[Prediction]:
    """Stream predictions in input order (see pipeline.score_paths for batching)."""
    thresholds = tagger.thresholds if use_calibration else None
    scored: Scored
    for scored in score_paths(tagger, items, batch_size=batch_size, workers=workers):
        if scored.error is not None or scored.scores is None:
            yield Prediction(scored.path, error=scored.error or "no scores")
        else:
            tags = select_hashtags(
                scored.scores, tagger.vocabulary, top_k, threshold, thresholds, scored.parts, only
            )
            yield Prediction(scored.path, tags)
