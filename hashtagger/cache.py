"""On-disk cache of one numpy array per photo, keyed by the photo's content hash, and the pass that fills it.

Shared by the frozen-backbone feature cache and the SIFT descriptor cache: one folder per recipe
(the hash of everything that shapes the arrays), root/<prefix>-<key>/<ab>/<digest>.npy, atomic writes,
no pickles. Both fill it the same way: hash every photo (`digests`), pick the distinct photos not
cached yet (`missing`), and drive a model-specific `compute` over them (`fill`) with progress and
Ctrl-C between chunks; what was computed stays cached. Uses numpy only, so decoding worker processes
can import it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hashtagger.files import atomic_write


class ArrayCache:
    """Arrays of one recipe (`ident`), stored as `dtype`; unreadable entries count as missing."""

    def __init__(self, root: str | os.PathLike[str], prefix: str, ident: dict[str, Any], dtype: str) -> None:
        key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]
        self.folder = Path(root).expanduser() / f"{prefix}-{key}"
        self.ident = ident
        self.dtype = np.dtype(dtype)

    def path(self, digest: str) -> Path:
        return self.folder / digest[:2] / f"{digest}.npy"

    def get(self, digest: str) -> np.ndarray | None:
        """The cached array, or None when absent or unreadable (the caller then recomputes it)."""
        try:
            arr = np.load(self.path(digest), allow_pickle=False)
        except (OSError, ValueError):
            return None
        return arr if arr.dtype == self.dtype and self.valid(arr) else None

    def valid(self, arr: np.ndarray) -> bool:
        """Shape check for subclasses; any array of the right dtype by default."""
        return True

    def put(self, digest: str, arr: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr, dtype=self.dtype), allow_pickle=False)
        data = buf.getvalue()
        atomic_write(self.path(digest), lambda tmp: Path(tmp).write_bytes(data))
        info = self.folder / "cache.json"
        if not info.exists():
            text = json.dumps(self.ident, indent=1)
            atomic_write(info, lambda tmp: Path(tmp).write_text(text))

    def get_many(self, keys: Sequence[str | None]) -> tuple[list[np.ndarray], list[int]]:
        """(arrays of the cached keys, their positions); keys that are None or not cached are left out."""
        out: list[np.ndarray] = []
        kept: list[int] = []
        for i, key in enumerate(keys):
            arr = None if key is None else self.get(key)
            if arr is not None:
                out.append(arr)
                kept.append(i)
        return out, kept


def default_cache_dir() -> Path:
    """$HASHTAGGER_CACHE/features, else $XDG_CACHE_HOME or ~/.cache, /hashtagger/features."""
    from hashtagger.files import user_cache_dir

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


def digests(paths: Iterable[str | os.PathLike[str]], workers: int = 4) -> list[str | None]:
    """Content hashes of every file, a few threads at a time (hashlib releases the GIL)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(file_digest, list(paths)))


def missing(
    paths: Sequence[str | os.PathLike[str]],
    keys: Sequence[str | None],
    cache: ArrayCache,
    *,
    rank: int = 0,
    world_size: int = 1,
) -> list[tuple[str, str]]:
    """(digest, path) of the distinct photos of this process's share that are not cached yet.

    The shares are fixed *before* looking at the cache, so they never depend on which files another
    process has already written.
    """
    first: dict[str, str] = {}
    for path, key in zip(paths, keys, strict=True):
        if key is not None and key not in first:
            first[key] = str(path)
    share = list(first.items())[rank::world_size]
    return [(k, p) for k, p in share if not cache.path(k).exists()]


@dataclass
class Filled:
    """What a `fill` pass did: photos done (cached or failed), how many failed, their error lines."""

    done: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


#: compute(todo) caches each (digest, path) of todo and yields (photos done, of them failed, error lines).
Compute = Callable[[list[tuple[str, str]]], Iterator[tuple[int, int, list[str]]]]


def fill(
    todo: list[tuple[str, str]],
    compute: Compute,
    *,
    stage: str,
    progress: Callable[..., None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Filled:
    """Run compute over todo, reporting progress(stage, done, total) and stopping between chunks."""
    out = Filled()
    chunks = compute(todo)
    try:
        for n, failed, errors in chunks:
            out.done += n
            out.failed += failed
            out.errors += errors
            if progress is not None:
                progress(stage, out.done, len(todo))
            if should_stop is not None and should_stop():
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # a generator's own clean-up (worker pools) runs now, not at garbage collection
    return out
