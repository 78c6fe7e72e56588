"""Vocabularies: the ordered list of tags a model scores, from counts or a dataset's own file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


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
