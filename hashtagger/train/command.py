"""The `train` command: parse options, call the library, format. No heavy imports at module level."""

from __future__ import annotations

import sys

import click

from hashtagger.choices import DEVICES
from hashtagger.options import domain_errors


@click.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML config (see configs/); keys it leaves out take their defaults.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key, e.g. --set train.epochs=3 (repeatable; wins over the file).",
)
@click.option(
    "--resume",
    type=click.Path(dir_okay=False),
    default=None,
    help="Continue an interrupted run from its last.pt (model, optimizer, schedule, RNG).",
)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the run already in the out folder (its config, metrics and checkpoints).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@domain_errors
def train(
    config_path: str | None,
    overrides: tuple[str, ...],
    resume: str | None,
    device: str,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Train a hashtag model from a YAML config: a multi-label classifier or a BoVW + SVM baseline.

    \b
    hashtagger train --config configs/clothing.yaml
    hashtagger train --config configs/clothing-bovw.yaml   # model.kind: bovw_svm
    hashtagger train --config configs/harrison.yaml --set train.epochs=3 --set model.freeze_backbone=true
    hashtagger train --resume runs/clothing/last.pt        # after Ctrl-C or a crash
    torchrun --nproc_per_node 4 -m hashtagger train --config configs/harrison.yaml
    """
    from hashtagger.train.config import load_config

    if config_path is None and resume is None:
        raise click.UsageError("give --config FILE (see configs/) or --resume CHECKPOINT")
    # A bad config is reported before torch loads (seconds on a laptop); a resumed run's comes
    # from its checkpoint.
    config = load_config(config_path, overrides) if resume is None else config_path

    from hashtagger.progress import Progress, StderrProgress
    from hashtagger.train.run import run_training

    progress = Progress() if quiet else StderrProgress()
    result = run_training(
        config,
        [] if resume is None else list(overrides),
        resume=resume,
        device=device,
        progress=progress,
        overwrite=overwrite,
    )
    if result.is_main:
        click.echo(f"run: {result.run_dir} ({result.epochs_done}/{result.epochs} epochs)")
        if (result.run_dir / "best.pt").exists():
            value = "" if result.best_value is None else f"  {result.best_metric} {result.best_value:.4f}"
            click.echo(f"best: {result.run_dir / 'best.pt'}{value}")
        if result.thresholds is not None:
            click.echo(f"thresholds: {result.thresholds}")
        if result.export is not None:
            click.echo(f"export: {result.export}")
        if (result.run_dir / "last.pt").exists():
            click.echo(f"last: {result.run_dir / 'last.pt'}")
    if result.interrupted:
        sys.exit(130)
