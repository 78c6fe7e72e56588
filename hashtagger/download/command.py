"""The `download` command: parse options, call the library, format. No heavy imports at module level."""

from __future__ import annotations

import click

from hashtagger.options import domain_errors


@click.command()
@click.argument("name", type=click.Choice(["harrison"], case_sensitive=False))
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False), help="Folder to fill.")
@click.option("--archive", type=click.Path(dir_okay=False), help="A HARRISON_full.tar you already have.")
@click.option("--mirror", metavar="URL", help="Base URL serving every dataset file under its own name.")
@click.option(
    "--fixes",
    type=click.Path(dir_okay=False),
    help="A HARRISON_fixed.zip you trust, used even if it is not the published one.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or notes on stderr.")
@domain_errors
def download(
    name: str, directory: str, archive: str | None, mirror: str | None, fixes: str | None, quiet: bool
) -> None:
    """Download a public dataset into --dir: verified, resumable, safe to re-run.

    \b
    hashtagger download harrison --dir ~/data/harrison             # images via aria2c (BitTorrent)
    hashtagger download harrison --dir D --archive HARRISON_full.tar  # a tar you already have
    hashtagger download harrison --dir D --mirror https://host/harrison/
    """
    from hashtagger.download.harrison import download_dataset
    from hashtagger.progress import StderrProgress

    with StderrProgress(quiet=quiet, unit="B") as bars:
        result = download_dataset(name, directory, archive=archive, mirror=mirror, fixes=fixes, progress=bars)
    for line in result.notes:
        bars.note(line)
    for w in result.warnings:
        bars.message(f"warning: {w}")
    click.echo(f"{name} ready: {result.present:,} of {result.listed:,} listed images in {result.data_path}")
    click.echo(f"train with: hashtagger train --config {result.config}")
