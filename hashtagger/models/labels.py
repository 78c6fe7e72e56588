"""Label sets: vocabulary files users give, and the label embeddings shipped as package data."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import numpy as np

from hashtagger.errors import InputError


def load_npz(name: str) -> dict[str, np.ndarray]:
    """A shipped .npz (hashtagger/resources) as plain arrays; never unpickles."""
    with resources.files("hashtagger.resources").joinpath(name).open("rb") as f:
        z = np.load(f, allow_pickle=False)
        return {k: z[k] for k in z.files}


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32 (cosine similarity becomes a dot product); zero rows stay 0."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def tag_key(tag: str) -> str:
    """How a tag meets a class's name: lower case, letters and digits only ('T-shirt', 'traffic light',
    'hot_dog' -> 'tshirt', 'trafficlight', 'hotdog'), the form WordNet's words are shipped in."""
    return re.sub(r"[^a-z0-9]", "", tag.lower())


def tag_index(vocabulary: list[str]) -> dict[str, int]:
    """tag_key -> the vocabulary column of the first tag with that key ('T-shirt' and 'tshirt' are one)."""
    index: dict[str, int] = {}
    for i, tag in enumerate(vocabulary):
        index.setdefault(tag_key(tag), i)
    return index


def read_vocab_file(path: str | os.PathLike[str]) -> list[str]:
    """One tag per line; '#' prefixes and blank lines dropped, duplicates removed, order kept."""
    from hashtagger.data import normalize_tag

    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"--vocab {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"--vocab {p}: cannot read ({e})") from None
    tags = list(dict.fromkeys(t for t in (normalize_tag(x) for x in lines) if t))
    if not tags:
        raise InputError(f"--vocab {p}: no tags (expected one tag per line)")
    return tags
