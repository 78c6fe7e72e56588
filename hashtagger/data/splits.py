"""Seeded train/validation/test splits, saved in the user's cache so every command sees the same ones.

The order is a SHA-1 of seed and relative path, not Python's random module: it does not
depend on the Python version, and adding an image does not reshuffle the others. The split is
saved under the cache folder (`$HASHTAGGER_CACHE/splits`, else `$XDG_CACHE_HOME/hashtagger/splits`,
else `~/.cache/hashtagger/splits`), keyed by the dataset's location and its list of photos, so
nothing is written into the dataset folder. A split file an earlier version saved beside the data
is still read when it covers the same photos.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from hashtagger.choices import SPLITS
from hashtagger.errors import DatasetError
from hashtagger.files import atomic_write, user_cache_dir

SPLIT_FILE = "hashtagger-split.json"  # beside the data: written by earlier versions, still read
SPLIT_FORMAT = "hashtagger-split"
HARRISON_TEST_SIZE = 5000  # Park, Li, Kim 2016: 52,383 train / 5,000 test
DEFAULT_TEST_FRACTION = 0.1


def resolve_test_size(test_size: int | float | None, n: int, *, harrison: bool = False) -> int:
    """Turn a count, a fraction or None (the format's default) into an image count.

    HARRISON's default is the paper's 5,000 test images, capped at 10% of the images for
    smaller copies (subsets, test fixtures); other formats default to 10%.
    """
    if test_size is None:
        frac = round(n * DEFAULT_TEST_FRACTION)
        count = min(HARRISON_TEST_SIZE, frac) if harrison else frac
    elif isinstance(test_size, bool) or not isinstance(test_size, (int, float)):
        raise DatasetError(f"test_size must be a count or a fraction, got {test_size!r}")
    elif isinstance(test_size, float):
        if not 0 <= test_size < 1:
            raise DatasetError(f"test_size {test_size} must be an image count or a fraction in [0, 1)")
        count = round(n * test_size)
    else:
        count = test_size
    if count < 0 or (n and count >= n):
        raise DatasetError(f"test_size {test_size} leaves no training images (the dataset has {n:,})")
    return count


def seeded_split(keys: Sequence[str], *, seed: int, test_count: int, val_fraction: float) -> dict[str, str]:
    """Assign each key to a split: test_count for test, val_fraction of the rest for validation."""
    if not 0 <= val_fraction < 1:
        raise DatasetError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = sorted(keys, key=lambda k: hashlib.sha1(f"{seed}\0{k}".encode()).digest())
    val_count = round((len(order) - test_count) * val_fraction)
    out: dict[str, str] = {}
    for i, key in enumerate(order):
        out[key] = "test" if i < test_count else "validation" if i < test_count + val_count else "train"
    return out


def folder_is_writable(folder: Path) -> bool:
    """Whether we may write into folder: its mode must allow it even when running as root.

    Root ignores permission bits, so a folder marked read-only (like ../shared) would be
    written anyway; respecting the bits keeps shared data untouched.
    """
    try:
        st = folder.stat()
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or not os.access(folder, os.W_OK | os.X_OK):
        return False
    return bool(st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def split_cache_file(name: str, fmt: str, root: Path, keys: Sequence[str]) -> Path:
    """Where a dataset's split is saved: the cache folder, keyed by location and the list of photos."""
    h = hashlib.sha256(f"{fmt}\0{os.path.abspath(root)}\0".encode("utf-8", "surrogateescape"))
    for key in sorted(keys):
        h.update(key.encode("utf-8", "surrogateescape") + b"\0")
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:40].strip("._") or "dataset"
    return user_cache_dir() / "splits" / f"{label}-{h.hexdigest()[:20]}.json"


def load_or_make_split(
    keys: Sequence[str],
    split_file: Path,
    *,
    seed: int,
    test_count: int,
    val_fraction: float,
    write: bool,
    warnings: list[str],
    legacy_file: Path | None = None,
) -> tuple[dict[str, str], str]:
    """Reuse the saved split when it covers exactly these images, else compute (and save) one.

    split_file is the cache file (split_cache_file); legacy_file, a split saved beside the data by
    an earlier version, is only read. Returns the assignment and a one-line description of where it
    came from; decisions the user should know about are appended to warnings.
    """
    wanted = set(keys)
    legacy = _read_split_file(legacy_file, warnings) if legacy_file is not None else None
    if legacy is not None and set(legacy[0]) == wanted:
        split_file, saved = legacy_file, legacy
    else:
        saved = _read_split_file(split_file, warnings)
    if saved is not None:
        assignment, params = saved
        if set(assignment) == wanted:
            if (params.get("seed"), params.get("test_size"), params.get("val_fraction")) != (
                seed,
                test_count,
                val_fraction,
            ):
                warnings.append(
                    f"using the saved split {split_file} (seed {params.get('seed')}, "
                    f"{params.get('test_size')} test); delete it to split again with seed {seed}"
                )
            return assignment, f"saved in {split_file} (seed {params.get('seed')})"
        warnings.append(f"{split_file}: the images changed since this split was saved; splitting again")
    assignment = seeded_split(keys, seed=seed, test_count=test_count, val_fraction=val_fraction)
    info = f"seeded random split (seed {seed})"
    if not write:
        return assignment, info
    return assignment, info + _save_split(split_file, assignment, (seed, test_count, val_fraction), warnings)


def _save_split(
    split_file: Path, assignment: dict[str, str], params: tuple[int, int, float], warnings: list[str]
) -> str:
    """Save a seeded split (params: seed, test count, val_fraction) where load_or_make_split finds it;
    returns what its description gains. A read-only or failing folder is a warning, never an error:
    the split is deterministic, so it is the same when computed again."""
    seed, test_count, val_fraction = params
    if split_file.parent.exists() and not folder_is_writable(split_file.parent):
        warnings.append(
            f"{split_file.parent} is read-only: the seeded split (seed {seed}) was computed in memory "
            "and not saved; it is deterministic, so every command computes the same one"
        )
        return ", not saved (read-only folder)"
    payload = {
        "format": SPLIT_FORMAT,
        "version": 1,
        "seed": seed,
        "test_size": test_count,
        "val_fraction": val_fraction,
        "sizes": {s: sum(1 for v in assignment.values() if v == s) for s in SPLITS},
        **{s: sorted(k for k, v in assignment.items() if v == s) for s in SPLITS},
    }
    text = json.dumps(payload, indent=1) + "\n"
    try:
        atomic_write(split_file, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    except OSError as e:  # an OutputError from atomic_write: it names the file and the reason
        warnings.append(f"{e}; the split is computed in memory, not saved")
        return ", not saved"
    return f", saved in {split_file}"


def _read_split_file(path: Path, warnings: list[str]) -> tuple[dict[str, str], dict] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != SPLIT_FORMAT:
            raise ValueError("not a hashtagger split file")
        assignment = {str(k): s for s in SPLITS for k in data.get(s, [])}
    except (OSError, ValueError, TypeError) as e:
        warnings.append(f"{path}: unreadable split file ({e}); splitting again")
        return None
    return assignment, data
