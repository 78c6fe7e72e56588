"""Transform presets built from one `Preprocessing`, so training, evaluation and prediction agree.

The evaluation preset *is* `Preprocessing.load_array` (resize the shorter side, centre crop):
exactly what `predict` does. Training presets add augmentation on top of the same decoding.
Randomness comes from a `random.Random` the caller seeds per (seed, epoch, image), never from
a global generator, so a resumed run draws the same crops whatever the number of workers.
Pillow + numpy only: these run in DataLoader worker processes.
"""

from __future__ import annotations

import math
import os
import random

import numpy as np
from PIL import Image

from hashtagger.image.load import load_image
from hashtagger.image.preprocess import _INTERPOLATIONS, Preprocessing

AUGMENTATIONS = ("standard", "flip", "none")


class EvalTransform:
    """path -> uint8 CHW array, the evaluation geometry (identical to prediction)."""

    def __init__(self, preprocessing: Preprocessing) -> None:
        self.preprocessing = preprocessing

    def __call__(self, path: str | os.PathLike[str], rng: random.Random | None = None) -> np.ndarray:
        return self.preprocessing.load_array(path)


class FlipTransform(EvalTransform):
    """The evaluation geometry, mirrored left-right half of the time."""

    def __call__(self, path: str | os.PathLike[str], rng: random.Random | None = None) -> np.ndarray:
        arr = self.preprocessing.load_array(path)
        if rng is not None and rng.random() < 0.5:
            arr = np.ascontiguousarray(arr[:, :, ::-1])
        return arr


class RandomResizedCropFlip(EvalTransform):
    """Inception-style random resized crop, then a random horizontal flip.

    Crops cover 25-100% of the photo (torchvision's default goes down to 8%): a hashtag such
    as #beach or #friends describes the whole scene, and tiny crops would often lose it.
    """

    def __init__(
        self,
        preprocessing: Preprocessing,
        scale: tuple[float, float] = (0.25, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
    ) -> None:
        super().__init__(preprocessing)
        self.scale = scale
        self.ratio = ratio

    def __call__(self, path: str | os.PathLike[str], rng: random.Random | None = None) -> np.ndarray:
        pre = self.preprocessing
        rng = rng or random.Random(0)
        im = load_image(path, draft_size=pre.resize_size if pre.draft else None)
        left, top, w, h = self._box(im.size, rng)
        resample = _INTERPOLATIONS.get(pre.interpolation, Image.Resampling.BICUBIC)
        im = im.resize((pre.size, pre.size), resample, box=(left, top, left + w, top + h))
        if rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))

    def _box(self, size: tuple[int, int], rng: random.Random) -> tuple[int, int, int, int]:
        width, height = size
        area = width * height
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return rng.randint(0, width - w), rng.randint(0, height - h), w, h
        # Fallback: the largest centre crop within the ratio range.
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            w, h = width, height
        return (width - w) // 2, (height - h) // 2, w, h


def train_transform(preprocessing: Preprocessing, augment: str) -> EvalTransform:
    """The training preset named by `train.augment`."""
    if augment == "standard":
        return RandomResizedCropFlip(preprocessing)
    if augment == "flip":
        return FlipTransform(preprocessing)
    return EvalTransform(preprocessing)


def eval_transform(preprocessing: Preprocessing) -> EvalTransform:
    """The evaluation preset: `Preprocessing.load_array`, as used by predict."""
    return EvalTransform(preprocessing)


def item_rng(seed: int, epoch: int, index: int) -> random.Random:
    """The random stream for one image in one epoch: independent of workers and resumes."""
    return random.Random(f"{seed}/{epoch}/{index}")
