"""How people actually tag photos: tag popularity and co-occurrence, from HARRISON's tag lists.

Shipped as derived counts in resources/tag_stats.npz (built by scripts/build_zeroshot_resources.py).
Zero-shot models blend these with what is visible in the photo (see zeroshot.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

RESOURCE = "tag_stats.npz"


@dataclass(frozen=True)
class TagStats:
    """Per-tag image counts and pairwise co-occurrence counts over `n_images` tagged photos."""

    vocabulary: list[str]
    counts: np.ndarray  # (V,) images using each tag
    n_images: int
    cooc: np.ndarray  # (V, V) images using both tags; diagonal = counts

    def restrict(self, tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Prior and conditional matrix over an arbitrary vocabulary.

        Returns (prior (V,), cond (V, V)) where prior sums to 1 and cond[v, t] = P(t | v) / mean tags
        per image (rows sum to 1). Tags without statistics get a neutral prior (the mean over known
        tags) and, as a condition, fall back to the prior; as a target, to the neutral value.
        """
        index = {t: i for i, t in enumerate(self.vocabulary)}
        ids = np.array([index.get(t, -1) for t in tags])
        known = ids >= 0
        v = len(tags)
        freq = np.zeros(v, dtype=np.float64)
        freq[known] = self.counts[ids[known]] / self.n_images
        neutral = float(freq[known].mean()) if known.any() else 1.0
        freq[~known] = neutral
        prior = freq / freq.sum()

        cond = np.tile(freq, (v, 1))  # unknown condition -> prior-shaped row
        if known.any():
            k = ids[known]
            sub = self.cooc[np.ix_(k, k)].astype(np.float64) / np.maximum(self.counts[k], 1)[:, None]
            rows = np.flatnonzero(known)
            block = cond[rows]
            block[:, known] = sub
            block[:, ~known] = neutral
            cond[rows] = block
        cond /= cond.sum(axis=1, keepdims=True)
        return prior.astype(np.float32), cond.astype(np.float32)


@lru_cache(maxsize=1)
def load_tag_stats() -> TagStats:
    """The shipped HARRISON statistics (57,383 photos, 997 tags)."""
    with resources.files("hashtagger.resources").joinpath(RESOURCE).open("rb") as f:
        z = np.load(f, allow_pickle=False)
        vocab = [str(t) for t in z["vocabulary"]]
        cooc = np.zeros((len(vocab), len(vocab)), dtype=np.int32)
        cooc[z["cooc_rows"].astype(np.int64), z["cooc_cols"].astype(np.int64)] = z["cooc_counts"]
        return TagStats(vocab, z["counts"].astype(np.int64), int(z["n_images"]), cooc)
