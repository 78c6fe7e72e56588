"""Your own tagging habits (`--profile`): a user's past posts -> a personal social prior.

Denton et al. (2015) condition hashtag prediction on the user. Here the user's history gives tag
popularity and co-occurrence exactly as HARRISON's tag lists do for everyone (hashtagger.rank); the
personal statistics are mixed with HARRISON's: a history of n posts gets the share weight * n / (n + 20),
so that a handful of posts cannot outvote everyone's statistics; `weight` 1 replaces them outright.
Built-in zero-shot models rank with the mix; any other model (a trained checkpoint) is re-ranked: its
scores, normalised to a distribution, take the place of the visual part.

A profile is a text file, one post per line, its hashtags separated by spaces or commas ('#' optional),
or a manifest of the user's tagged photos (.csv, .tsv, .jsonl, as for training; only the tags are read).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hashtagger.errors import DatasetError, InputError
from hashtagger.models.base import Tagger
from hashtagger.rank import DEFAULT_RANKING, Ranked, Ranker, Ranking, SocialPrior

if TYPE_CHECKING:
    import torch

DEFAULT_WEIGHT = 0.5
#: A history of n posts gets weight * n / (n + PRIOR_POSTS): a few posts must not outvote 57,383 photos.
PRIOR_POSTS = 20


def profile_share(weight: float, posts: int) -> float:
    """The share the user's statistics get in the mix; weight 1 replaces HARRISON's whatever the size."""
    return 1.0 if weight >= 1.0 else weight * posts / (posts + PRIOR_POSTS)


def read_profile(path: str | os.PathLike[str]) -> list[tuple[str, ...]]:
    """The user's posts as tag tuples (normalised like every tag); raises InputError in one line."""
    from hashtagger.data.formats import MANIFEST_SUFFIXES, read_lines, read_manifest
    from hashtagger.data.records import parse_tags
    from hashtagger.files import is_regular_file

    p = Path(path).expanduser()
    if not is_regular_file(p):
        what = "not a regular file (a pipe, device or socket)" if p.exists() else "no such file"
        raise InputError(f"--profile {p}: {what}")
    try:
        if p.suffix.lower() in MANIFEST_SUFFIXES:
            posts = [tags for tags, _ in read_manifest(p).entries.values()]
        else:
            posts = [parse_tags(line.replace(",", " ").split()) for line in read_lines(p)]
    except DatasetError as e:
        raise InputError(f"--profile {e}") from None
    posts = [t for t in posts if t]
    if not posts:
        raise InputError(f"--profile {p}: no hashtags (expected one post per line, e.g. '#dog #beach')")
    return posts


def personal_prior(posts: list[tuple[str, ...]], vocabulary: list[str], name: str = "profile") -> SocialPrior:
    """Popularity and co-occurrence of the user's tags over a model's vocabulary.

    Tags the user never used get no personal popularity; as a condition, a tag the user never used
    falls back to the personal popularity. Raises InputError when no post uses a vocabulary tag.
    """
    index = {t: i for i, t in enumerate(vocabulary)}
    v = len(vocabulary)
    counts = np.zeros(v, dtype=np.float64)
    cooc = np.zeros((v, v), dtype=np.float64)
    for tags in posts:
        ids = sorted({index[t] for t in tags if t in index})
        if ids:
            counts[ids] += 1
            cooc[np.ix_(ids, ids)] += 1
    if counts.sum() == 0:
        used = len({t for tags in posts for t in tags})
        raise InputError(
            f"--profile {name}: none of its {used:,} tags is in the model's vocabulary of {v:,} tags"
        )
    prior = counts / counts.sum()
    cond = np.tile(prior, (v, 1))
    seen = counts > 0
    cond[seen] = cooc[seen] / counts[seen, None]
    cond /= cond.sum(axis=1, keepdims=True)
    return SocialPrior(prior.astype(np.float32), cond.astype(np.float32), f"profile {name}")


class RerankedTagger(Tagger):
    """Any model re-ranked with a social prior: its scores, as a distribution, are the content part."""

    def __init__(self, inner: Tagger, social: SocialPrior, ranking: Ranking = DEFAULT_RANKING) -> None:
        self.inner = inner
        self.uses_torch = inner.uses_torch
        self.kind, self.name = inner.kind, inner.name
        self.vocabulary, self.preprocessing = inner.vocabulary, inner.preprocessing
        self.thresholds = None  # calibrated on the model's own scale, which re-ranking changes
        self.default_threshold = 2.0 / len(inner.vocabulary)
        self.social = social
        self.ranker = Ranker(ranking, social)

    def tag(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.score_explained(batch.cpu().numpy())[0])

    def score_explained(self, batch: np.ndarray) -> tuple[np.ndarray, Ranked]:
        ranked = self.ranker.rank(self.inner.score(batch))
        return ranked.score, ranked

    def score(self, batch: np.ndarray) -> np.ndarray:
        return self.score_explained(batch)[0]

    def to(self, device: str) -> Tagger:
        self.inner.to(device)
        return self

    def set_precision(self, precision: str) -> None:
        self.inner.set_precision(precision)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "social": self.social.source}


def apply_profile(tagger: Tagger, path: str | os.PathLike[str], weight: float = DEFAULT_WEIGHT) -> Tagger:
    """Rank `tagger`'s suggestions with the user's habits mixed into HARRISON's statistics."""
    if not 0.0 <= weight <= 1.0:
        raise InputError(f"--profile-weight {weight}: must be between 0 and 1")
    posts = read_profile(path)
    vocabulary = list(tagger.vocabulary)
    mine = personal_prior(posts, vocabulary, Path(path).name)
    share = profile_share(weight, len(posts))
    if isinstance(tagger.social, SocialPrior):  # a model that ranks with tag statistics: mix the user's in
        return tagger.with_social(tagger.social.mixed(mine, share))
    return RerankedTagger(tagger, SocialPrior.harrison(vocabulary).mixed(mine, share))
