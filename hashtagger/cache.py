"""On-disk cache of one numpy array per photo, keyed by the photo's content hash.

Shared by the frozen-backbone feature cache and the SIFT descriptor cache: one folder per recipe
(the hash of everything that shapes the arrays), root/<prefix>-<key>/<ab>/<digest>.npy, atomic writes,
no pickles. Uses numpy only, so decoding worker processes can import it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
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
