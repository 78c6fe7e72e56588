"""Parity of an export with PyTorch: largest score difference and top-k agreement, ignoring near-ties."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hashtagger.image.preprocess import Preprocessing

#: The budget an fp32 export must meet (and the near-tie width for top-k comparisons).
TOLERANCE = 1e-4


@dataclass(frozen=True)
class Parity:
    """How an export's scores compare with PyTorch fp32's on the same batch."""

    batch: int
    max_abs_diff: float
    top_k: int
    rows_with_other_top_k: int

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= TOLERANCE and self.rows_with_other_top_k == 0

    def line(self) -> str:
        return (
            f"batch {self.batch}: max |diff| {self.max_abs_diff:.1e}, "
            f"top-{self.top_k} {'same' if self.rows_with_other_top_k == 0 else 'differs'} "
            f"({self.batch - self.rows_with_other_top_k}/{self.batch} photos)"
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "batch": self.batch,
            "max_abs_diff": float(self.max_abs_diff),
            "top_k": self.top_k,
            "rows_with_other_top_k": self.rows_with_other_top_k,
        }


def other_top_k_rows(reference: np.ndarray, other: np.ndarray, k: int, tie: float = TOLERANCE) -> int:
    """Rows whose top-k order differs from the reference's, where the swapped tags are not near-ties.

    Rank j differs when the two runs put different tags there and the reference scores those two
    tags more than `tie` apart (tags within `tie` of each other may come in either order).
    """
    from hashtagger.metrics import top_k_indices

    k = min(k, reference.shape[1])
    ra, rb = top_k_indices(reference, k), top_k_indices(other, k)
    bad = 0
    for row, ia, ib in zip(reference, ra, rb, strict=True):
        if any(a != b and abs(row[a] - row[b]) > tie for a, b in zip(ia, ib, strict=True)):
            bad += 1
    return bad


def compare(reference: np.ndarray, other: np.ndarray, k: int = 10) -> Parity:
    """Parity figures of one batch's scores."""
    diff = float(np.max(np.abs(reference.astype(np.float64) - other.astype(np.float64))))
    return Parity(reference.shape[0], diff, min(k, reference.shape[1]), other_top_k_rows(reference, other, k))


def synthetic_batch(pre: Preprocessing, n: int, seed: int = 0) -> np.ndarray:
    """n photo-like uint8 NCHW images (smooth random colour fields with some texture), reproducible."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = np.empty((n, 3, pre.size, pre.size), dtype=np.uint8)
    for i in range(n):
        coarse = rng.integers(0, 256, (6 + i % 5, 6 + i % 5, 3), dtype=np.uint8)
        im = Image.fromarray(coarse, "RGB").resize((pre.size, pre.size), Image.Resampling.BICUBIC)
        arr = np.asarray(im, dtype=np.int16) + rng.integers(-12, 13, (pre.size, pre.size, 3))
        out[i] = np.clip(arr, 0, 255).astype(np.uint8).transpose(2, 0, 1)
    return out
