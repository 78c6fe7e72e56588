"""Preprocessing, defined once: the photo -> tensor recipe a model was trained with.

Stored in every checkpoint. `load_array` runs in decoding workers (Pillow + numpy only);
`normalize` runs on the batch next to the model.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from hashtagger.errors import CheckpointError
from hashtagger.image.load import load_image

_INTERPOLATIONS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


#: The largest input side a checkpoint may ask for: the biggest common backbones use 600.
MAX_SIZE = 1024


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _three(name: str, value: Any) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(_is_number(v) for v in value):
        raise CheckpointError(
            f"preprocessing.{name} must be 3 finite numbers (one per RGB channel), got {value!r}"
        )
    return (float(value[0]), float(value[1]), float(value[2]))


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side to size / crop_pct, centre-crop size x size, scale by mean/std."""

    size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    draft: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def resize_size(self) -> int:
        return int(math.floor(self.size / self.crop_pct))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Preprocessing:
        """Rebuild from a checkpoint's entry, checking every field (a one-line CheckpointError names it)."""
        if not isinstance(d, dict):
            raise CheckpointError(f"preprocessing must be a mapping, got {type(d).__name__}")
        missing = [k for k in ("size", "crop_pct", "interpolation", "mean", "std") if k not in d]
        if missing:
            raise CheckpointError(f"preprocessing lacks {', '.join(missing)}")
        size = d["size"]
        if not _is_number(size) or size != int(size) or not 1 <= size <= MAX_SIZE:
            raise CheckpointError(
                f"preprocessing.size must be a whole number from 1 to {MAX_SIZE}, got {size!r}"
            )
        crop = d["crop_pct"]
        if not _is_number(crop) or not 0.05 <= crop <= 1:
            raise CheckpointError(f"preprocessing.crop_pct must be a number from 0.05 to 1, got {crop!r}")
        if d["interpolation"] not in _INTERPOLATIONS:
            known = ", ".join(_INTERPOLATIONS)
            raise CheckpointError(
                f"preprocessing.interpolation must be one of {known}, got {d['interpolation']!r}"
            )
        mean, std = _three("mean", d["mean"]), _three("std", d["std"])
        if min(std) <= 0:
            raise CheckpointError(f"preprocessing.std must be above 0 in every channel, got {list(std)}")
        draft, extra = d.get("draft", True), d.get("extra", {})
        if not isinstance(draft, bool) or not isinstance(extra, dict):
            raise CheckpointError(
                "preprocessing.draft must be true or false and preprocessing.extra a mapping"
            )
        return cls(int(size), float(crop), d["interpolation"], mean, std, draft, dict(extra))

    def resize_crop(self, im: Image.Image) -> Image.Image:
        """Shorter side to resize_size, then centre crop: the evaluation geometry.

        Only the source region under the crop is resampled (Pillow's resize box), straight to
        size x size: the work and memory are bounded by the output, whatever the aspect ratio.
        Resizing the whole photo first would turn a 1x80000 strip into 256x20 million pixels.
        """
        w, h = im.size
        scale = self.resize_size / min(w, h)
        nw, nh = max(self.size, round(w * scale)), max(self.size, round(h * scale))
        left, top = (nw - self.size) // 2, (nh - self.size) // 2
        if (nw, nh) == (w, h):
            return im.crop((left, top, left + self.size, top + self.size))
        sx, sy = nw / w, nh / h
        box = (left / sx, top / sy, (left + self.size) / sx, (top + self.size) / sy)
        resample = _INTERPOLATIONS.get(self.interpolation, Image.Resampling.BICUBIC)
        return im.resize((self.size, self.size), resample, box=box)

    def load_array(self, path: str | os.PathLike[str], data: bytes | None = None) -> np.ndarray:
        """Decode a photo (its file, or `data` read elsewhere) into a uint8 CHW array (raises ImageError)."""
        im = load_image(path, draft_size=self.resize_size if self.draft else None, data=data)
        im = self.resize_crop(im)
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))

    def normalize(self, batch: Any) -> Any:
        """uint8 NCHW tensor -> float NCHW tensor, scaled by mean/std (torch, lazily imported)."""
        import torch

        x = batch.float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return x.sub_(mean).div_(std)


IMAGENET = Preprocessing()
EFFICIENTNET_LITE = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
