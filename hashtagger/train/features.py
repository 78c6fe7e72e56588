"""Frozen-backbone feature cache: one backbone pass per photo, ever, instead of one per epoch.

When the backbone is frozen and no augmentation changes its input, an image's pooled features
are a pure function of (image bytes, preprocessing, backbone, weights, precision). They are
stored on disk under that key (one small .npy per image, written atomically), so a second
run, a resumed run or a run with another head/loss/lr costs no backbone pass at all.
HARRISON's 57k photos then cost one pass instead of 13, which makes CPU-only training practical.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hashtagger.cache import ArrayCache, Compute, Filled, digests, fill, missing
from hashtagger.image.preprocess import Preprocessing
from hashtagger.progress import Progress

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hashtagger.data.records import Record

CACHE_FORMAT = 1


def weights_digest(module: nn.Module) -> str:
    """sha256 over a module's tensors: names the exact weights, whatever file they came from."""
    import torch

    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            t = t.float()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


class FeatureCache(ArrayCache):
    """Features of one (backbone, weights, preprocessing, precision) under root/<backbone>-<key>/."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        backbone: str,
        weights_id: str,
        preprocessing: Preprocessing,
        precision: str,
    ) -> None:
        ident = {
            "format": CACHE_FORMAT,
            "backbone": backbone,
            "weights": weights_id,
            "preprocessing": preprocessing.to_dict(),
            "precision": precision,
        }
        super().__init__(root, backbone, ident, "float32")


@dataclass
class BackbonePass:
    """The feature cache's `compute`: decode photos in batches, run the frozen backbone, cache each row."""

    cache: FeatureCache
    backbone: nn.Module
    preprocessing: Preprocessing
    device: str
    autocast_dtype: torch.dtype | None
    channels_last: bool
    batch_size: int
    workers: int

    def __call__(self, todo: list[tuple[str, str]]) -> Iterator[tuple[int, int, list[str]]]:
        import torch

        from hashtagger.data.loader import make_image_loader
        from hashtagger.data.records import Record
        from hashtagger.image.transforms import eval_transform

        loader = make_image_loader(
            [Record(Path(path), (), None) for _, path in todo],
            [],
            eval_transform(self.preprocessing),
            batch_size=self.batch_size,
            train=False,
            workers=self.workers,
            device=self.device,
        )
        self.backbone.eval()
        with torch.inference_mode():
            for batch in loader:
                if len(batch.inputs):
                    for i, row in zip(batch.index.tolist(), self._features(batch.inputs), strict=True):
                        self.cache.put(todo[i][0], row)
                yield len(batch.inputs) + batch.skipped, batch.skipped, []

    def _features(self, inputs: torch.Tensor) -> np.ndarray:
        import torch

        x = self.preprocessing.normalize(inputs.to(self.device, non_blocking=True))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(
            device_type=torch.device(self.device).type,
            dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None,
        ):
            return self.backbone(x).float().cpu().numpy()


def fill_cache(
    name: str,
    records: Sequence[Record],
    cache: ArrayCache,
    compute: Compute,
    progress: Progress,
    *,
    workers: int,
    should_stop: Callable[[], bool] | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[list[str | None], Filled]:
    """The per-photo pass both caches share: hash every photo, compute this process's share of the
    distinct photos not cached yet, say how much was cached. Returns every record's key and what was done.
    """
    paths = [r.path for r in records]
    keys = digests(paths, workers=max(1, workers))
    everything = missing(paths, keys, cache)
    todo = len(everything)
    progress.message(f"{name} cache: {cache.folder} ({len(records) - todo} of {len(records)} photos cached)")
    if not todo:
        return keys, Filled()
    # one process: its share is everything missing (no second look at every cache file)
    share = everything if world_size == 1 else missing(paths, keys, cache, rank=rank, world_size=world_size)
    filled = fill(share, compute, stage=f"{name}s", progress=progress, should_stop=should_stop)
    progress.close()
    return keys, filled


def load_features(keys: Sequence[str | None], cache: FeatureCache) -> tuple[np.ndarray, list[int]]:
    """(features of the cached records, their positions); records without features are left out."""
    rows, kept = cache.get_many(keys)
    dim = rows[0].shape[0] if rows else 0
    return (np.stack(rows) if rows else np.zeros((0, dim), np.float32)), kept
