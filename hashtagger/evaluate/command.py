"""The `evaluate` command: parse options, call the library, format. No heavy imports at module level."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from hashtagger.choices import EVALUATE_SPLITS, REPORT_FORMATS
from hashtagger.options import domain_errors, model_options, run_options

if TYPE_CHECKING:
    from hashtagger.models.spec import ModelSpec
    from hashtagger.runtime import RunOptions


@click.command()
@model_options(multiple=True, vocab=False)
@click.option(
    "-d",
    "--data",
    required=True,
    help="Dataset: HARRISON folder, manifest (.csv/.tsv/.jsonl) or folder per tag.",
)
@click.option(
    "--split",
    type=click.Choice(EVALUATE_SPLITS),
    default="test",
    show_default=True,
    help="Images to score (all = every tagged image, for test-only sets).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
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
    specs: tuple[ModelSpec, ...],
    data: str,
    split: str,
    fmt: str,
    plot: str | None,
    calibrate: bool,
    seed: int,
    run: RunOptions,
) -> None:
    """Compare models on a dataset split: P/R/A@1/5/10, mAP, F1, beside the popularity baseline.

    \b
    hashtagger evaluate --model runs/harrison/best.pt --data ~/data/harrison
    hashtagger evaluate -m zeroshot -m runs/a/best.pt --data D --format json --plot compare.png
    hashtagger evaluate --model runs/harrison/best.pt --data D --calibrate
    """
    from hashtagger.evaluate.run import run_evaluate
    from hashtagger.progress import StderrProgress

    run_evaluate(
        data,
        specs,
        split="validation" if split == "val" else split,
        fmt=fmt,
        plot=plot,
        calibrate=calibrate,
        seed=seed,
        out=sys.stdout,
        progress=StderrProgress(quiet=run.quiet),
        run=run,
    )
