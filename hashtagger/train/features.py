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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hashtagger.cache import ArrayCache
from hashtagger.files import user_cache_dir
from hashtagger.image.preprocess import Preprocessing

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hashtagger.data.records import Record

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """$HASHTAGGER_CACHE/features, else $XDG_CACHE_HOME or ~/.cache, /hashtagger/features."""
    return user_cache_dir() / "features"


def file_digest(path: str | os.PathLike[str]) -> str | None:
    """sha256 of a file's bytes (None when unreadable: the extraction pass reports it)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


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


def digests(records: Sequence[Record], workers: int = 4) -> list[str | None]:
    """Content hashes of every record's file, a few threads at a time (hashlib releases the GIL)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(file_digest, [r.path for r in records]))


def extract_missing(
    records: Sequence[Record],
    keys: Sequence[str | None],
    cache: FeatureCache,
    backbone: nn.Module,
    preprocessing: Preprocessing,
    *,
    device: str,
    autocast_dtype: torch.dtype | None,
    channels_last: bool,
    batch_size: int,
    workers: int,
    rank: int = 0,
    world_size: int = 1,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Run the backbone over the records not yet cached (this process's share); returns photos skipped.

    Stops between batches when should_stop() turns true; what was computed stays cached.
    """
    import torch

    from hashtagger.data.loader import make_image_loader
    from hashtagger.image.transforms import eval_transform

    # Each process takes a fixed share of the distinct photos *before* looking at the cache, so the
    # shares never depend on which files another process has already written.
    first: dict[str, Record] = {}
    for record, key in zip(records, keys, strict=True):
        if key is not None and key not in first:
            first[key] = record
    share = list(first.items())[rank::world_size]
    todo_keys = [k for k, _ in share if not cache.path(k).exists()]
    todo = [first[k] for k in todo_keys]
    if not todo:
        return 0
    loader = make_image_loader(
        todo,
        [],
        eval_transform(preprocessing),
        batch_size=batch_size,
        train=False,
        workers=workers,
        device=device,
    )
    backbone.eval()
    skipped = 0
    done = 0
    with torch.inference_mode():
        for batch in loader:
            skipped += batch.skipped
            done += len(batch.inputs) + batch.skipped
            if len(batch.inputs):
                x = preprocessing.normalize(batch.inputs.to(device, non_blocking=True))
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(
                    device_type=torch.device(device).type,
                    dtype=autocast_dtype or torch.float32,
                    enabled=autocast_dtype is not None,
                ):
                    feats = backbone(x).float().cpu().numpy()
                for i, row in zip(batch.index.tolist(), feats, strict=True):
                    cache.put(todo_keys[i], row)
            if progress is not None:
                progress(done, len(todo))
            if should_stop is not None and should_stop():
                break
    return skipped


def load_features(keys: Sequence[str | None], cache: FeatureCache) -> tuple[np.ndarray, list[int]]:
    """(features of the cached records, their positions); records without features are left out."""
    rows, kept = cache.get_many(keys)
    dim = rows[0].shape[0] if rows else 0
    return (np.stack(rows) if rows else np.zeros((0, dim), np.float32)), kept
