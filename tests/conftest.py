"""Shared fixtures: small photos made on the fly (no files from ../shared needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_photo(
    path: Path, size: tuple[int, int] = (48, 40), seed: int = 0, mode: str = "RGB", **save: object
) -> Path:
    """Write a small random-coloured photo; the format follows the suffix."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    im = Image.fromarray(arr, "RGB")
    if mode != "RGB":
        im = im.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **save)
    return path


@pytest.fixture
def photo_factory(tmp_path: Path):
    """make(name, **kw) -> path of a new small photo under tmp_path."""

    def make(name: str, **kw: object) -> Path:
        return make_photo(tmp_path / name, **kw)

    return make


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when it is absent (fresh clone elsewhere)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p
