"""The steps after the graph (colours.py, objects.py, people.py), the same for PyTorch and an export: the
order they run in, what a detector's score becomes (a gated sigmoid), and the three settings an export
stores to apply each one the same way."""

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


def apply_seen(
    q: np.ndarray, batch: np.ndarray, *, colours: Any = None, objects: Any = None, people: Any = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """q (N, V), what the photo shows over the tags -> the same with the colours measured, then the things
    seen moved in, then the people: the one order of the steps, for PyTorch (zeroshot.py) and an export
    (exported.py) alike; and the (N, V) tags measured absent (the colours a photo lacks; None without a
    colours step), which the ranking keeps out. A step that is None, or whose tags the vocabulary lacks,
    changes nothing. The object detector's person score, where it ran, confirms the faces
    (people.PERSON_CONFIRMS)."""
    absent = None
    if colours is not None:
        p = colours.measure(batch)
        q, absent = colours.move(q, p), colours.absent(p)
    scores = objects.scores(batch) if objects is not None else None
    if scores is not None:
        q = objects.move(q, scores)
    if people is not None:
        q = people.apply(q, batch, person=None if scores is None else objects.person(scores))
    return q, absent


def seen_steps() -> dict[str, Any]:
    """The steps after the graph, by the key an export stores each one's settings under: each class has
    `from_dict(settings, vocabulary)` and `to_dict()`, and apply_seen takes them by these names."""
    from hashtagger.models.colours import ColourTags
    from hashtagger.models.objects import ObjectTags
    from hashtagger.models.people import PeopleTags

    return {"colours": ColourTags, "objects": ObjectTags, "people": PeopleTags}


def gated_sigmoid(
    x: np.ndarray, mid: float | np.ndarray, slope: float, floor: float | np.ndarray
) -> np.ndarray:
    """sigmoid(slope * (x - mid)), and 0 below `floor`: weak detections move nothing at all (`mid` and
    `floor` may be one per column)."""
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
