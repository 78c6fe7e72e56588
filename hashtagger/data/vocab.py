"""Vocabularies: the ordered list of tags a model scores, from counts or a dataset's own file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import DatasetError
from .records import normalize_tag


def build_vocabulary(
    counts: Mapping[str, int], *, min_count: int = 1, fixed: Sequence[str] | None = None
) -> list[str]:
    """Order tags by count (ties alphabetical) keeping those seen min_count times or more.

    With a fixed vocabulary (a dataset's own file) its order wins: min_count 1 returns it
    unchanged, a higher min_count only removes entries, so indices stay comparable with
    published results on that dataset.
    """
    if fixed is not None:
        if min_count <= 1:
            return list(fixed)
        return [t for t in fixed if counts.get(t, 0) >= min_count]
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [t for t, c in ranked if c >= min_count]


def read_vocab_index(path: Path) -> list[str]:
    """Read HARRISON's vocab_index.txt ('<word><spaces><rank>', rank 0 first) in rank order."""
    ranked: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read vocabulary ({e})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise DatasetError(f"{path}:{n}: expected '<tag> <rank>', got {line.strip()!r}")
        tag = normalize_tag(parts[0])
        if tag in seen:
            raise DatasetError(f"{path}:{n}: tag {tag!r} listed twice (first on line {seen[tag]})")
        seen[tag] = n
        ranked.append((int(parts[1]), tag))
    if not ranked:
        raise DatasetError(f"{path}: empty vocabulary file")
    ranked.sort()
    return [t for _, t in ranked]
