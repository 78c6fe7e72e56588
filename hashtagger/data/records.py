"""Records and datasets: what every format reader produces and every consumer reads.

One tag rule for the whole project lives here (normalize_tag), so that a tag typed in a
manifest, read from HARRISON or predicted by a model always compares equal.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hashtagger.choices import SPLITS
from hashtagger.data.vocab import build_vocabulary
from hashtagger.errors import DatasetError

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "val": "validation",
    "valid": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}
_TAG_SEPARATORS = re.compile(r"[\s,]+")


def normalize_tag(tag: str) -> str:
    """Lower case, surrounding space and leading '#' removed: '#Beach ' and 'beach' are one tag."""
    return tag.strip().lstrip("#").strip().lower()


def parse_tags(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Split a tag field (space- or comma-separated, or a list of such) into normalised tags.

    Empty tags are dropped and duplicates removed, first occurrence kept, so that the
    order a user wrote stays visible and no tag counts twice for one image.
    """
    if value is None:
        return ()
    pieces = [value] if isinstance(value, str) else [str(v) for v in value]
    out: dict[str, None] = {}
    for piece in pieces:
        for raw in _TAG_SEPARATORS.split(piece):
            tag = normalize_tag(raw)
            if tag:
                out.setdefault(tag, None)
    return tuple(out)


def normalize_split(value: str, where: str = "") -> str:
    """Map a split name or alias ('val', 'valid', ...) to train/validation/test."""
    key = value.strip().lower()
    if key in SPLIT_ALIASES:
        return SPLIT_ALIASES[key]
    prefix = f"{where}: " if where else ""
    raise DatasetError(f"{prefix}unknown split {value!r} (use train, validation/val or test)")


@dataclass(frozen=True)
class Record:
    """One image and its tags.

    split is None for an image that has no tags: it is counted by the summary but kept
    out of every split, since it can neither be learnt from nor scored.
    """

    path: Path
    tags: tuple[str, ...]
    split: str | None


@dataclass
class Dataset:
    """Records of one dataset, with the split already assigned.

    vocab_file holds the dataset's own vocabulary (HARRISON vocab_index.txt) in its order;
    without one the vocabulary is derived from the train split. warnings collects what the
    loader decided on the user's behalf (e.g. a split not saved); the CLI shows them.
    """

    name: str
    root: Path
    format: str
    records: list[Record]
    vocab_file: list[str] | None = None
    vocab_source: str = "train split"
    split_info: str = ""
    warnings: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[Record]:
        """Records of one split ('train', 'validation'/'val', 'test') or 'all' tagged records."""
        if name.strip().lower() == "all":
            return [r for r in self.records if r.split is not None]
        key = SPLIT_ALIASES.get(name.strip().lower())
        present = self.splits()
        if key is None or key not in present:
            listed = ", ".join([*present, "all"])
            raise DatasetError(f"{self.root}: no split {name!r} in this dataset (splits: {listed})")
        return [r for r in self.records if r.split == key]

    def splits(self) -> dict[str, int]:
        """Image count per split, in train/validation/test order; empty splits left out."""
        counts = Counter(r.split for r in self.records if r.split is not None)
        return {s: counts[s] for s in SPLITS if counts[s]}

    def tag_counts(self, split: str = "train") -> dict[str, int]:
        """Images per tag in a split (or 'all'), most frequent first, ties alphabetical."""
        counts = Counter(t for r in self.split(split) for t in r.tags)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def vocabulary(self, min_count: int = 1) -> list[str]:
        """Tags the model learns: the dataset's own vocabulary file, else the train split's tags.

        Frequency-ordered (ties alphabetical) over the train split only, so no test tag leaks
        in; min_count drops tags seen in fewer training images (the file's order is kept).
        """
        if min_count < 1:
            raise DatasetError(f"min_count must be at least 1, got {min_count}")
        counts = self.tag_counts("train") if "train" in self.splits() else {}
        return build_vocabulary(counts, min_count=min_count, fixed=self.vocab_file)
