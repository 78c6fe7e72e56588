"""The `predict` command: parse options, call the library, format. No heavy imports at module level."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from hashtagger.options import FiniteFloat, domain_errors, model_option, run_options, writer_options
from hashtagger.predict.ranking_options import ranking_options
from hashtagger.predict.scale_options import scale_options

if TYPE_CHECKING:
    from hashtagger.runtime import RunOptions


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@model_option()
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
    type=click.Choice(["text", "json", "jsonl", "csv", "none"]),
    default="text",
    show_default=True,
    help="Output format on stdout (none: nothing; with --write and --quiet, none is the default).",
)
@click.option("--no-hash", is_flag=True, help="Print tags without the leading '#'.")
@click.option(
    "--vocab",
    type=click.Path(dir_okay=False),
    default=None,
    help="Zero-shot models: tag against this vocabulary (one tag per line); needs hashtagger[vocab] "
    "(hierse: hashtagger[hierse] and WordNet).",
)
@writer_options
@run_options
@ranking_options
@scale_options
@domain_errors
def predict(
    inputs: tuple[str, ...],
    model: str,
    top_k: int,
    threshold: float | None,
    no_calibration: bool,
    fmt: str,
    no_hash: bool,
    vocab: str | None,
    prior_weight: float | None,
    run: RunOptions,
    writers: Any,
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
    from hashtagger.predict.run import run_predict

    reach_keywords = scale.pop("reach_keywords")
    if reach_keywords and not writers.write:
        raise click.UsageError("--reach-keywords goes with --write")
    local = scale.get("engine", "local") == "local"
    if writers.write and local and not reach_keywords and scale["only"] is None and not scale["group"]:
        scale["only"] = "content"  # a photo's keywords say what it shows, unless reach tags are asked for
    source = click.get_current_context().get_parameter_source("fmt")
    if writers.write and run.quiet and source == click.core.ParameterSource.DEFAULT:
        fmt = "none"

    failed = run_predict(
        inputs,
        model=model,
        top_k=top_k,
        threshold=threshold,
        use_calibration=not no_calibration,
        fmt=fmt,
        hash_prefix=not no_hash,
        vocab=vocab,
        writers=writers,
        stdin=sys.stdin,
        out=sys.stdout,
        err=sys.stderr,
        prior_weight=prior_weight,
        run=run,
        **scale,
    )
    if failed:
        sys.exit(1)
