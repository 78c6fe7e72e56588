"""Dataset summary: what a user should know before training (counts, missing files, tag statistics).

Existence is checked for every image (one stat each, fast); decoding every image is opt-in
because it reads the whole dataset. Unreadable files follow images.load_image's rule:
truncated images are errors, exactly as training, evaluation and prediction treat them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hashtagger.data.records import Dataset
from hashtagger.errors import ImageError
from hashtagger.files import is_regular_file
from hashtagger.image.load import load_image
from hashtagger.progress import ProgressFn as Progress
from hashtagger.runtime import decode_threads

DECODE_SIZE = 256  # draft-decode JPEGs: still reads every byte, so truncation is caught


@dataclass
class DatasetSummary:
    """Plain numbers and short lists, ready for text or JSON."""

    name: str
    format: str
    root: str
    images: int
    splits: dict[str, int]
    split_info: str
    untagged: int
    untagged_examples: list[str]
    missing: int
    missing_examples: list[str]
    images_checked: bool
    unreadable: int | None
    unreadable_examples: list[str]
    tags_per_image: dict[str, float]
    vocabulary_size: int
    vocabulary_source: str
    outside_vocabulary: int
    outside_vocabulary_tags: list[str]
    most_frequent: list[tuple[str, int]]
    least_frequent: list[tuple[str, int]]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict; the tag lists become {tag: images} objects, in order."""
        out = asdict(self)
        out["most_frequent"], out["least_frequent"] = dict(self.most_frequent), dict(self.least_frequent)
        return out


def summarize(
    dataset: Dataset,
    *,
    check_images: bool = False,
    progress: Progress | None = None,
    top: int = 10,
    examples: int = 5,
) -> DatasetSummary:
    """Count what is there, what is missing and how tags are spread, without raising on bad files."""
    root = dataset.root
    rel = lambda p: os.path.relpath(p, root)  # noqa: E731
    records = dataset.records
    untagged = [r for r in records if not r.tags]
    present, missing = [], []
    for i, r in enumerate(records, 1):
        (present if is_regular_file(r.path) else missing).append(r)
        if progress and (i % 5000 == 0 or i == len(records)):
            progress("checking files", i, len(records), unit="file")
    unreadable: list[str] | None = None
    if check_images:
        unreadable = _decode_all([r.path for r in present], progress)
    counts = dataset.tag_counts("all")
    tagged = [len(r.tags) for r in records if r.tags]
    vocab = dataset.vocabulary()
    known = set(vocab)
    outside = {t: c for t, c in counts.items() if t not in known}
    # Most and least frequent among the tags a model learns; the others are listed as outside the
    # vocabulary, so no tag shows up in both (without a training split there is no vocabulary).
    ranked = [(t, c) for t, c in counts.items() if t in known] if known else list(counts.items())
    least = sorted(ranked, key=lambda kv: (kv[1], kv[0]))[:top]
    return DatasetSummary(
        name=dataset.name,
        format=dataset.format,
        root=str(root),
        images=len(records),
        splits=dataset.splits(),
        split_info=dataset.split_info,
        untagged=len(untagged),
        untagged_examples=[rel(r.path) for r in untagged[:examples]],
        missing=len(missing),
        missing_examples=[rel(r.path) for r in missing[:examples]],
        images_checked=check_images,
        unreadable=None if unreadable is None else len(unreadable),
        unreadable_examples=[_relative_message(m, root) for m in (unreadable or [])[:examples]],
        tags_per_image={
            "min": min(tagged, default=0),
            "mean": round(sum(tagged) / len(tagged), 2) if tagged else 0.0,
            "max": max(tagged, default=0),
        },
        vocabulary_size=len(vocab),
        vocabulary_source=dataset.vocab_source,
        outside_vocabulary=sum(outside.values()),
        outside_vocabulary_tags=list(outside)[:examples],
        most_frequent=ranked[:top],
        least_frequent=least,
        warnings=list(dataset.warnings),
    )


def format_summary(s: DatasetSummary) -> str:
    """Human-readable summary, one fact per line."""
    pct = lambda n: f"{100 * n / s.images:.1f}%" if s.images else "0%"  # noqa: E731
    splits = ", ".join(f"{k} {v:,}" for k, v in s.splits.items()) or "none"
    lines = [
        f"dataset        {s.name}{'' if s.name == s.format else f' ({s.format})'} at {s.root}",
        f"images         {s.images:,}",
        f"splits         {splits}  [{s.split_info}]",
        f"no tags        {s.untagged:,}" + (" (kept out of every split), e.g." if s.untagged else ""),
    ]
    lines += _examples(s.untagged_examples)
    lines.append(
        f"missing files  {s.missing:,} of {s.images:,} ({pct(s.missing)})" + (", e.g." if s.missing else "")
    )
    lines += _examples(s.missing_examples)
    if s.missing and s.missing == s.images and s.format == "harrison":
        lines.append("               the images are not here: hashtagger download harrison --dir DIR")
    if s.unreadable is None:
        lines.append("unreadable     not checked (--check-images decodes every image)")
    else:
        lines.append(
            f"unreadable     {s.unreadable:,}"
            + (" (skipped by training, evaluation and prediction), e.g." if s.unreadable else "")
        )
        lines += _examples(s.unreadable_examples)
    t = s.tags_per_image
    lines += [
        f"tags per image min {t['min']}, mean {t['mean']:.2f}, max {t['max']}",
        f"vocabulary     {s.vocabulary_size:,} tags (from {s.vocabulary_source})",
        f"outside vocab  {s.outside_vocabulary:,} tag uses"
        + (
            f" ({', '.join(s.outside_vocabulary_tags)}, ...; not in the vocabulary, ignored in training)"
            if s.outside_vocabulary
            else ""
        ),
        "most frequent  " + ", ".join(f"{k} {v:,}" for k, v in s.most_frequent),
        "least frequent " + ", ".join(f"{k} {v:,}" for k, v in s.least_frequent),
    ]
    return "\n".join(lines)


def _examples(items: list[str]) -> list[str]:
    return [f"                 {x}" for x in items]


def _decode_all(paths: list[Path], progress: Progress | None) -> list[str]:
    """Decode every image in threads (Pillow releases the GIL); return the error messages."""

    def check(p: Path) -> str | None:
        try:
            load_image(p, draft_size=DECODE_SIZE)
        except ImageError as e:
            return str(e)
        return None

    errors = []
    workers = decode_threads()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, err in enumerate(pool.map(check, paths), 1):
            if err:
                errors.append(err)
            if progress and (i % 200 == 0 or i == len(paths)):
                progress("decoding images", i, len(paths))
    return errors


def _relative_message(message: str, root: Path) -> str:
    head, sep, tail = message.partition(": ")
    return f"{os.path.relpath(head, root)}: {tail}" if sep and os.path.isabs(head) else message
