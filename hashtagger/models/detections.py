"""What a detector's score becomes, the same for the face detector (people.py) and the object detector
(objects.py): a gated sigmoid, and the three settings an export stores to apply it the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hashtagger.errors import CheckpointError


def detector_session(resource: str, path: str | Path | None = None) -> Any:
    """An ONNX Runtime session on a detector the package ships (hashtagger/resources), or on `path`."""
    from importlib import resources

    from hashtagger.models.exported import onnx_session

    return onnx_session(Path(path) if path else Path(str(resources.files("hashtagger.resources") / resource)))


def apply_seen(q: np.ndarray, batch: np.ndarray, *, objects: Any, people: Any) -> np.ndarray:
    """q (N, V), what the photo shows over the tags -> the same with the things seen moved in, then the
    people: the one order of the steps, for PyTorch (zeroshot.py) and an export (exported.py) alike.
    A step that is None, or whose tags the vocabulary lacks, changes nothing. The object detector's
    person score, where it ran, confirms the faces (people.PERSON_CONFIRMS)."""
    scores = objects.scores(batch) if objects is not None else None
    if scores is not None:
        q = objects.move(q, scores)
    if people is not None:
        q = people.apply(q, batch, person=None if scores is None else objects.person(scores))
    return q


def gated_sigmoid(x: np.ndarray, mid: float, slope: float, floor: float) -> np.ndarray:
    """sigmoid(slope * (x - mid)), and 0 below `floor`: weak detections move nothing at all."""
    x = np.asarray(x, dtype=np.float32)
    z = np.clip(slope * (x - mid), -60.0, 60.0)
    return np.where(x >= floor, 1.0 / (1.0 + np.exp(-z)), 0.0).astype(np.float32)


def checked_settings(d: Any, step: str, mid: str) -> tuple[float, float, float]:
    """An export's {share, <mid>, slope} for `step` ("people", "objects") -> (share, mid, slope); one-line
    CheckpointError for anything else (a crafted export must not inject NaN, a bool or a share over 1)."""
    keys = {"share", mid, "slope"}
    if not isinstance(d, dict) or set(d) != keys:
        raise CheckpointError(f"{step} must be a mapping of share, {mid} and slope, got {d!r}"[:160])
    values = [d["share"], d[mid], d["slope"]]
    finite = all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values)
    if not finite or not 0 <= d["share"] <= 1:
        raise CheckpointError(f"{step}: share must be from 0 to 1, {mid} and slope finite numbers")
    return float(d["share"]), float(d[mid]), float(d["slope"])
