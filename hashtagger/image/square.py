"""The model's crop scaled to a detector's square input (the face detector in models/people.py and the
object detector in models/objects.py each look at the centre crop the model sees, at their own size)."""

from __future__ import annotations

import numpy as np


def square_rgb(batch: np.ndarray, size: int) -> np.ndarray:
    """uint8 NCHW RGB photos -> uint8 NHWC `size` x `size` copies, bilinear."""
    from PIL import Image

    out = np.empty((len(batch), size, size, 3), dtype=np.uint8)
    for i, chw in enumerate(batch):
        im = Image.fromarray(np.ascontiguousarray(chw.transpose(1, 2, 0)))
        out[i] = np.asarray(im.resize((size, size), Image.Resampling.BILINEAR))
    return out
