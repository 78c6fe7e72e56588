"""The `dataset` command: parse options, call the library, format. No heavy imports at module level."""

from __future__ import annotations

import click

from hashtagger.choices import LIST_FORMATS
from hashtagger.options import domain_errors


@click.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(LIST_FORMATS), default="text", show_default=True)
@click.option("--check-images", is_flag=True, help="Decode every image (slow) to find unreadable ones.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@domain_errors
def dataset(path: str, fmt: str, check_images: bool, quiet: bool) -> None:
    """Summarise a dataset (HARRISON folder, manifest or folder per tag) before training on it.

    \b
    hashtagger dataset ../shared/data/clothing-small/labels.csv
    hashtagger dataset ~/data/harrison --check-images --format json
    """
    import json

    from hashtagger.data import format_summary, load_dataset, summarize
    from hashtagger.progress import StderrProgress

    data = load_dataset(path, write_split_file=False)  # a summary only reads: the split is computed in memory
    with StderrProgress(quiet=quiet) as bars:
        summary = summarize(data, check_images=check_images, progress=bars)
    click.echo(format_summary(summary) if fmt == "text" else json.dumps(summary.to_dict(), indent=2))
    for w in summary.warnings:
        bars.message(f"warning: {w}")
