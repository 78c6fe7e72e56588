"""The `predict` command: parse options, call the library, format. No heavy imports at module level."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from hashtagger.choices import PREDICT_FORMATS
from hashtagger.options import FiniteFloat, domain_errors, model_options, run_options, writer_options
from hashtagger.predict.ranking_options import ranking_options
from hashtagger.predict.scale_options import scale_options

if TYPE_CHECKING:
    from hashtagger.models.spec import ModelSpec
    from hashtagger.runtime import RunOptions


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@model_options(profile=True)
@click.option(
    "-k", "--top-k", default=10, show_default=True, type=click.IntRange(min=1), help="Hashtags per photo."
)
@click.option(
    "-t",
    "--threshold",
    type=FiniteFloat(),
    default=None,
    help="Drop hashtags scoring below this (default: the model's calibrated thresholds, if any).",
)
@click.option("--no-calibration", is_flag=True, help="Ignore per-tag thresholds stored in the checkpoint.")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(PREDICT_FORMATS),
    default="text",
    show_default=True,
    help="Output format on stdout (none: nothing; with --write and --quiet, none is the default).",
)
@click.option("--no-hash", is_flag=True, help="Print tags without the leading '#'.")
@writer_options
@run_options
@ranking_options
@scale_options
@domain_errors
def predict(
    inputs: tuple[str, ...],
    spec: ModelSpec,
    top_k: int,
    threshold: float | None,
    no_calibration: bool,
    fmt: str,
    no_hash: bool,
    run: RunOptions,
    writers: Any,
    why: bool,
    only: str | None,
    reach_keywords: bool,
    group: bool,
    **scale: Any,
) -> None:
    """Suggest hashtags for photos: files, folders (recursive), glob patterns, or - for paths on stdin.

    \b
    hashtagger predict photo.jpg
    hashtagger predict ~/Pictures/trip --format jsonl > tags.jsonl
    find . -name '*.jpg' | hashtagger predict - --top-k 5 --format csv
    hashtagger predict photos/ --format jsonl --shard 0/4 > part0.jsonl
    hashtagger predict photos/ --engine ray --ray-address head:6379
    hashtagger predict ~/Pictures/trip --write xmp --exclude selfie --dry-run
    """
    from hashtagger.predict.hashtags import Selection
    from hashtagger.predict.run import OutputStyle, ScaleOut, run_predict
    from hashtagger.progress import StderrProgress

    if reach_keywords and not writers.write:
        raise click.UsageError("--reach-keywords goes with --write")
    local = scale["engine"] == "local"
    if writers.write and local and not reach_keywords and only is None and not group:
        only = "content"  # a photo's keywords say what it shows, unless reach tags are asked for
    source = click.get_current_context().get_parameter_source("fmt")
    if writers.write and run.quiet and source == click.core.ParameterSource.DEFAULT:
        fmt = "none"
    failed = run_predict(
        inputs,
        spec=spec,
        out=sys.stdout,
        progress=StderrProgress(quiet=run.quiet),
        stdin=sys.stdin,
        selection=Selection(top_k, threshold, not no_calibration, only),
        style=OutputStyle(fmt, not no_hash, why, group),
        run=run,
        scale=ScaleOut(**scale),
        writers=writers,
    )
    if failed:
        sys.exit(1)
