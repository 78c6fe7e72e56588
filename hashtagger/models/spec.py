"""Which model, opened how: one frozen ModelSpec, built once from the options the way RunOptions is.

Standard library only: the CLI builds it without importing anything heavy; `open_tagger` (models/
__init__.py) is the one way every command and script turns a ModelSpec and a RunOptions into a Tagger.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """A built-in model's name or a model file, and what changes how it ranks."""

    model: str = "zeroshot"
    vocab: str | tuple[str, ...] | None = None  # a file of tags, or the tags (built-in zero-shot models)
    prior_weight: float | None = None  # weight of the tag statistics (built-in zero-shot models)
    profile: str | None = None  # the user's past posts or tagged photos (--profile)
    profile_weight: float = 0.5
