"""The classic baseline: bag of visual words over SIFT, one linear SVM per tag (model kind bovw_svm).

A photo's SIFT descriptors each vote for their nearest visual word (a k-means centroid); the
normalised vote counts are its histogram, and tag j scores histogram @ W[j] + b[j], the decision
value of tag j's one-vs-rest linear SVM (> 0: the SVM says the tag applies). The checkpoint holds
only arrays: centroids (K, 128), W (V, K) and b (V,), plus the extraction recipe in `arch`.
`encode` is shared with training (hashtagger.train.bovw), so both score a photo identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hashtagger.errors import CheckpointError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models import sift as _sift
from hashtagger.models.base import Tagger
from hashtagger.models.sift import DESCRIPTOR_DIM, require_opencv

if TYPE_CHECKING:
    import torch

HISTOGRAMS = ("l1", "hellinger")


def encode(
    descriptors: Sequence[np.ndarray], centroids: np.ndarray, histogram: str = "hellinger"
) -> np.ndarray:
    """Per photo, the (K,) histogram of its descriptors' nearest visual words -> float32 (N, K).

    l1: word frequencies summing to 1; hellinger: their square roots (unit L2 norm), which makes a
    linear SVM compare photos with the Bhattacharyya kernel and damps words that fire everywhere.
    A photo without descriptors gets an all-zero histogram (its scores are the SVM biases).
    """
    if histogram not in HISTOGRAMS:
        raise ValueError(f"histogram must be one of {', '.join(HISTOGRAMS)}, got {histogram!r}")
    c = np.asarray(centroids, dtype=np.float64)
    k = len(c)
    c_sq = (c * c).sum(axis=1)
    out = np.zeros((len(descriptors), k), np.float32)
    for i, desc in enumerate(descriptors):
        if len(desc) == 0:
            continue
        # float64: squared distances reach ~1e7, where float32 rounding could flip near-ties.
        dist = c_sq[None, :] - 2.0 * (np.asarray(desc, dtype=np.float64) @ c.T)
        h = np.bincount(dist.argmin(axis=1), minlength=k).astype(np.float64)
        h /= h.sum()
        out[i] = np.sqrt(h) if histogram == "hellinger" else h
    return out


class BovwTagger(Tagger):
    """A trained bovw_svm checkpoint behind the Tagger interface: SVM decision values per tag."""

    kind = "bovw_svm"
    #: SVM decision values: > 0 means the tag's SVM puts the photo on the positive side.
    default_threshold = 0.0

    def __init__(
        self,
        centroids: np.ndarray,
        weights: np.ndarray,
        bias: np.ndarray,
        vocabulary: list[str],
        preprocessing: Preprocessing,
        *,
        max_features: int,
        histogram: str,
        thresholds: list[float] | None = None,
        tag_counts: list[int] | None = None,
    ) -> None:
        self.centroids = np.asarray(centroids, dtype=np.float32)
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.vocabulary = vocabulary
        self.preprocessing = preprocessing
        self.max_features = int(max_features)
        self.histogram = histogram
        self.thresholds = thresholds
        self.tag_counts = tag_counts

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> BovwTagger:
        """Rebuild from a loaded checkpoint dict (plain tensors and numbers only); one-line errors."""
        require_opencv()
        arch = ckpt.get("arch")
        if not isinstance(arch, dict) or not all(k in ckpt for k in ("centroids", "svm_weights", "svm_bias")):
            raise CheckpointError(
                "bovw_svm checkpoint lacks 'arch', 'centroids', 'svm_weights' or 'svm_bias'"
            )
        vocabulary = [str(t) for t in ckpt["vocabulary"]]
        try:
            centroids = _array(ckpt["centroids"])
            weights = _array(ckpt["svm_weights"])
            bias = _array(ckpt["svm_bias"])
            max_features = int(arch["max_descriptors_per_image"])
            histogram = str(arch["histogram"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"bovw_svm checkpoint has a malformed entry ({e})") from None
        k, v = len(centroids), len(vocabulary)
        if (
            centroids.ndim != 2
            or centroids.shape[1] != DESCRIPTOR_DIM
            or weights.shape != (v, k)
            or bias.shape != (v,)
            or histogram not in HISTOGRAMS
        ):
            raise CheckpointError(
                f"bovw_svm checkpoint does not fit together: centroids {tuple(centroids.shape)}, "
                f"svm_weights {tuple(weights.shape)}, svm_bias {tuple(bias.shape)}, {v} tags, "
                f"histogram {histogram!r}"
            )
        thresholds = ckpt.get("thresholds")
        if thresholds is not None:
            thresholds = [float(t) for t in _array(thresholds).reshape(-1)]
            if len(thresholds) != v:
                raise CheckpointError(f"checkpoint has {len(thresholds)} thresholds for {v} tags")
        counts = ckpt.get("tag_counts")
        return cls(
            centroids,
            weights,
            bias,
            vocabulary,
            Preprocessing.from_dict(ckpt["preprocessing"]),
            max_features=max_features,
            histogram=histogram,
            thresholds=thresholds,
            tag_counts=[int(c) for c in counts] if counts is not None else None,
        )

    def scores(self, descriptors: Sequence[np.ndarray]) -> np.ndarray:
        """Descriptors of N photos -> float32 (N, V) SVM decision values."""
        hist = encode(descriptors, self.centroids, self.histogram)
        return (hist @ self.weights.T + self.bias).astype(np.float32)

    def tag(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 NCHW (from `preprocessing.load_array`) -> (N, V) decision values (float32, CPU)."""
        import torch

        arrays = batch.detach().cpu().numpy()
        found = [_sift.sift_descriptors(a, self.max_features) for a in arrays]
        return torch.from_numpy(self.scores(found))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["visual_words"] = len(self.centroids)
        info["histogram"] = self.histogram
        return info


def _array(value: Any) -> np.ndarray:
    """A checkpoint tensor (or list) as a float32 numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().float().numpy()
    return np.asarray(value, dtype=np.float32)
