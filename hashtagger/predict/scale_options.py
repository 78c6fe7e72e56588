"""`predict`'s scale-out options: `--shard K/N`, `--engine`, `--ray-address` and `--ray-cpus-per-actor`.

Kept apart from command.py so the command stays thin; parsing `--shard` imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from hashtagger.choices import ENGINES
from hashtagger.errors import InputError
from hashtagger.options import add_options
from hashtagger.predict.shard import Shard, parse_shard

F = TypeVar("F", bound=Callable[..., Any])


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Shard | None:
    if value is None:
        return None
    try:
        return parse_shard(value)
    except InputError as e:
        raise click.BadParameter(str(e).removeprefix("--shard "), ctx, param) from None


def scale_options(func: F) -> F:
    """Add the options that spread `predict` over several runs or a Ray cluster."""
    options = [
        click.option(
            "--shard",
            metavar="K/N",
            callback=_shard,
            default=None,
            help="Tag only shard K of N (0 <= K < N), chosen from each photo's path: N runs with the same "
            "inputs tag every photo once (Slurm arrays, GNU parallel). json/jsonl records get an `index`.",
        ),
        click.option(
            "--engine",
            type=click.Choice(ENGINES),
            default="local",
            show_default=True,
            help="local: this process; ray: actors of a Ray cluster (needs hashtagger[ray]).",
        ),
        click.option(
            "--ray-address",
            metavar="ADDR",
            default=None,
            help="--engine ray: the cluster to join (default: $RAY_ADDRESS, else a local cluster).",
        ),
        click.option(
            "--ray-cpus-per-actor",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="--engine ray: CPUs per model copy (one actor per this many CPUs of the cluster).",
        ),
    ]
    return add_options(func, options)
