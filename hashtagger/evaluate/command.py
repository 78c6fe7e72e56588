"""The `evaluate` command: parse options, call the library, format. No heavy imports at module level."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from hashtagger.options import domain_errors, model_option, run_options

if TYPE_CHECKING:
    from hashtagger.runtime import RunOptions


@click.command()
@model_option(multiple=True)
@click.option(
    "-d",
    "--data",
    required=True,
    help="Dataset: HARRISON folder, manifest (.csv/.tsv/.jsonl) or folder per tag.",
)
@click.option(
    "--split",
    type=click.Choice(["train", "validation", "val", "test", "all"]),
    default="test",
    show_default=True,
    help="Images to score (all = every tagged image, for test-only sets).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output format on stdout.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also draw Accuracy@1/5/10 per model to this PNG. Needs hashtagger[plot].",
)
@click.option(
    "--calibrate",
    is_flag=True,
    help="Fit per-tag thresholds on the validation split; store them in the (one) checkpoint.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the dataset's split when it has none.")
@run_options
@domain_errors
def evaluate(
    models: tuple[str, ...],
    data: str,
    split: str,
    fmt: str,
    plot: str | None,
    calibrate: bool,
    seed: int,
    prior_weight: float | None,
    run: RunOptions,
) -> None:
    """Compare models on a dataset split: P/R/A@1/5/10, mAP, F1, beside the popularity baseline.

    \b
    hashtagger evaluate --model runs/harrison/best.pt --data ~/data/harrison
    hashtagger evaluate -m zeroshot -m runs/a/best.pt --data D --format json --plot compare.png
    hashtagger evaluate --model runs/harrison/best.pt --data D --calibrate
    """
    from hashtagger.evaluate.run import run_evaluate

    run_evaluate(
        data,
        models,
        split="validation" if split == "val" else split,
        fmt=fmt,
        plot=plot,
        calibrate=calibrate,
        seed=seed,
        out=sys.stdout,
        err=sys.stderr,
        prior_weight=prior_weight,
        run=run,
    )
