"""What a model can say: its vocabulary, with how often people post each tag (HARRISON's counts)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TagInfo:
    """One tag of a model's vocabulary; `posts` is how many of HARRISON's 57,383 posts use it (None: a tag
    without social statistics, which the ranking gives a neutral prior)."""

    tag: str
    posts: int | None

    def to_dict(self) -> dict[str, object]:
        return {"tag": self.tag, "posts": self.posts}


def model_tags(vocabulary: list[str], search: str | None = None) -> list[TagInfo]:
    """The vocabulary in the model's order, each tag with its HARRISON count; `search` keeps the tags
    that contain it (case-insensitive, '#' ignored)."""
    from hashtagger.models.tagstats import load_tag_stats

    stats = load_tag_stats()
    counts = dict(zip(stats.vocabulary, stats.counts.tolist(), strict=True))
    needle = (search or "").strip().lstrip("#").lower()
    return [TagInfo(t, counts.get(t)) for t in vocabulary if needle in t.lower()]
