"""`predict` options that explain the ranking and choose which kinds of tag to show (see hashtagger.rank)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from hashtagger.options import add_options
from hashtagger.predict.kinds import KINDS

F = TypeVar("F", bound=Callable[..., Any])


def ranking_options(func: F) -> F:
    """--why, --only, --reach-keywords, --group (--profile is a model option: options.model_options)."""
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
    ]
    return add_options(func, options)
