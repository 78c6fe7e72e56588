"""What a prediction is: a photo's hashtags (each with its score and parts) or the one line saying why it
failed. Every stage after the scores passes these along; the formatters (output.py), the writers, serve and
the Ray engine all read them. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hashtag:
    """A suggested tag, its ranking score and, for ranked models, the parts that explain it."""

    tag: str
    score: float
    parts: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    """One photo's hashtags, best first, or the one-line reason it failed."""

    path: str
    hashtags: list[Hashtag] = field(default_factory=list)
    error: str | None = None
    index: int | None = None  # position among all inputs, set by --shard for merging shards in order
