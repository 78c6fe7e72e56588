"""What the steps after the graph (colours.py, objects.py, people.py) share: a detector's ONNX session,
what a score becomes (a gated sigmoid), and the three settings an export stores to apply a step the same
way. The steps themselves, and their order, are in steps.py."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hashtagger.errors import CheckpointError
from hashtagger.runtime import onnx_session


def detector_session(resource: str, path: str | Path | None = None) -> Any:
    """An ONNX Runtime session on a detector the package ships (hashtagger/resources), or on `path`."""
    return onnx_session(Path(path) if path else Path(str(resources.files("hashtagger.resources") / resource)))


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
