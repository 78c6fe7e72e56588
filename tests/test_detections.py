"""Both shipped detectors (objects.py, people.py): a photo's scores never depend on the rest of its batch,
and an empty batch gives an empty answer of the right shape."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the detectors run on ONNX Runtime")


@pytest.mark.parametrize(
    ("detector", "method", "empty"),
    [("objects:ObjectDetector", "class_scores", (0, 80)), ("people:FaceDetector", "face_logits", (0,))],
)
def test_a_batch_scores_each_photo_as_alone(detector: str, method: str, empty: tuple[int, ...]) -> None:
    import importlib

    module, cls = detector.split(":")
    score = getattr(getattr(importlib.import_module(f"hashtagger.models.{module}"), cls)(), method)
    batch = np.random.default_rng(0).integers(0, 256, (3, 3, 64, 48), dtype=np.uint8)
    together = score(batch)
    alone = np.concatenate([score(batch[i : i + 1]) for i in range(3)])
    assert len(together) == 3 and np.isfinite(together).all()
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert score(batch[:0]).shape == empty
