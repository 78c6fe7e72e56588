"""`predict` options that explain and personalise the ranking (see hashtagger.rank and hashtagger.profile)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from hashtagger.options import FiniteFloat, add_options
from hashtagger.predict.kinds import KINDS

F = TypeVar("F", bound=Callable[..., Any])


def ranking_options(func: F) -> F:
    """--why, --only, --reach-keywords, --group, --profile, --profile-weight."""
    options = [
        click.option(
            "--why",
            is_flag=True,
            help="Text format: under each photo, one line per hashtag with its parts "
            "(visual, social = co-occurrence + popularity, reach tag, diversity discount).",
        ),
        click.option(
            "--only",
            type=click.Choice(KINDS),
            default=None,
            help="content: leave out reach tags (popular tags the photo does not show, e.g. #love); "
            "reach: only those. With --write the default is content: keywords say what the photo shows.",
        ),
        click.option(
            "--reach-keywords",
            is_flag=True,
            help="With --write: write reach tags (#love, #instagood) into the keywords too.",
        ),
        click.option(
            "--group",
            is_flag=True,
            help="Content tags first, then reach tags; the text format puts a tab between the two "
            "groups (json/jsonl: each hashtag's kind says which).",
        ),
        click.option(
            "--profile",
            type=click.Path(dir_okay=False),
            default=None,
            help="Your past posts (one line of hashtags per post) or a manifest of your tagged photos: "
            "rank with your own tag popularity and co-occurrence (checkpoints: re-rank).",
        ),
        click.option(
            "--profile-weight",
            type=FiniteFloat(0, 1),
            default=0.5,
            show_default=True,
            help="Weight of your statistics against HARRISON's; a history of n posts gets weight*n/(n+20) "
            "(1 = yours only).",
        ),
    ]
    return add_options(func, options)
