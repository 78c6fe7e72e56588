"""Command-line interface: parse options, call the library, format. No torch import at module level."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from . import __version__
from .errors import HashtaggerError

F = TypeVar("F", bound=Callable[..., Any])


def domain_errors(func: F) -> F:
    """Turn library errors into one-line click errors (exit status 1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HashtaggerError as e:
            raise click.ClickException(str(e)) from None

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="hashtagger")
def cli() -> None:
    """Suggest hashtags for photos.

    \b
    hashtagger predict photo.jpg                 # tag one photo with the built-in model
    hashtagger predict ~/Pictures --format jsonl # tag a folder, one JSON line per photo
    """


def run_options(func: F) -> F:
    """Options of every command that runs a model over photos (predict, evaluate)."""
    options = [
        click.option(
            "--prior-weight",
            type=click.FloatRange(0, 1),
            default=None,
            help="Zero-shot models: weight of the Instagram tag statistics (0 = visual only).",
        ),
        click.option("-b", "--batch-size", default=32, show_default=True, type=click.IntRange(min=1)),
        click.option(
            "--workers",
            type=click.IntRange(min=0),
            default=None,
            help="Decoding threads (default: one per core).",
        ),
        click.option(
            "--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True
        ),
        click.option(
            "--precision",
            type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
            default="auto",
            show_default=True,
            help="auto = bf16 where the hardware runs it fast, else fp32.",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


# ---- commands are registered below, one section per command ----

# ---- predict ----


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-m",
    "--model",
    default="zeroshot",
    show_default=True,
    help="Built-in model (zeroshot, hierse) or a checkpoint file from `hashtagger train`.",
)
@click.option(
    "-k", "--top-k", default=10, show_default=True, type=click.IntRange(min=1), help="Hashtags per photo."
)
@click.option(
    "-t",
    "--threshold",
    type=float,
    default=None,
    help="Drop hashtags scoring below this (default: the model's calibrated thresholds, if any).",
)
@click.option("--no-calibration", is_flag=True, help="Ignore per-tag thresholds stored in the checkpoint.")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl", "csv"]),
    default="text",
    show_default=True,
    help="Output format on stdout.",
)
@click.option("--no-hash", is_flag=True, help="Print tags without the leading '#'.")
@click.option(
    "--vocab",
    type=click.Path(dir_okay=False),
    default=None,
    help="Zero-shot models: tag against this vocabulary (one tag per line); needs hashtagger[vocab] "
    "(hierse: hashtagger[hierse] and WordNet).",
)
@run_options
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
    **run: Any,
) -> None:
    """Suggest hashtags for photos: files, folders (recursive), glob patterns, or - for paths on stdin.

    \b
    hashtagger predict photo.jpg
    hashtagger predict ~/Pictures/trip --format jsonl > tags.jsonl
    find . -name '*.jpg' | hashtagger predict - --top-k 5 --format csv
    """
    from .predict import run_predict

    failed = run_predict(
        inputs,
        model=model,
        top_k=top_k,
        threshold=threshold,
        use_calibration=not no_calibration,
        fmt=fmt,
        hash_prefix=not no_hash,
        vocab=vocab,
        stdin=sys.stdin,
        out=sys.stdout,
        err=sys.stderr,
        **run,
    )
    if failed:
        sys.exit(1)


# ---- train ----


@cli.command()
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
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True
)
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@domain_errors
def train(
    config_path: str | None, overrides: tuple[str, ...], resume: str | None, device: str, quiet: bool
) -> None:
    """Train a hashtag model from a YAML config: a multi-label classifier or a BoVW + SVM baseline.

    \b
    hashtagger train --config configs/clothing.yaml
    hashtagger train --config configs/clothing-bovw.yaml   # model.kind: bovw_svm
    hashtagger train --config configs/harrison.yaml --set train.epochs=3 --set model.freeze_backbone=true
    hashtagger train --resume runs/clothing/last.pt        # after Ctrl-C or a crash
    torchrun --nproc_per_node 4 -m hashtagger train --config configs/harrison.yaml
    """
    from .engine import Progress, StderrProgress
    from .train import run_training

    if config_path is None and resume is None:
        raise click.UsageError("give --config FILE (see configs/) or --resume CHECKPOINT")
    progress = Progress() if quiet else StderrProgress()
    result = run_training(config_path, list(overrides), resume=resume, device=device, progress=progress)
    if result.is_main:
        click.echo(f"run: {result.run_dir} ({result.epochs_done}/{result.epochs} epochs)")
        if (result.run_dir / "best.pt").exists():
            value = "" if result.best_value is None else f"  {result.best_metric} {result.best_value:.4f}"
            click.echo(f"best: {result.run_dir / 'best.pt'}{value}")
        if (result.run_dir / "last.pt").exists():
            click.echo(f"last: {result.run_dir / 'last.pt'}")
    if result.interrupted:
        sys.exit(130)


# ---- evaluate ----


@cli.command()
@click.option(
    "-m",
    "--model",
    "models",
    multiple=True,
    required=True,
    help="Built-in model (zeroshot, hierse) or checkpoint; repeat to compare models side by side.",
)
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
    **run: Any,
) -> None:
    """Compare models on a dataset split: P/R/A@1/5/10, mAP, F1, beside the popularity baseline.

    \b
    hashtagger evaluate --model runs/harrison/best.pt --data ~/data/harrison
    hashtagger evaluate -m zeroshot -m runs/a/best.pt --data D --format json --plot compare.png
    hashtagger evaluate --model runs/harrison/best.pt --data D --calibrate
    """
    from .evaluate import run_evaluate

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
        **run,
    )


# ---- download / dataset ----


@cli.command()
@click.argument("name", type=click.Choice(["harrison"], case_sensitive=False))
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False), help="Folder to fill.")
@click.option("--archive", type=click.Path(dir_okay=False), help="A HARRISON_full.tar you already have.")
@click.option("--mirror", metavar="URL", help="Base URL serving every dataset file under its own name.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or notes on stderr.")
@domain_errors
def download(name: str, directory: str, archive: str | None, mirror: str | None, quiet: bool) -> None:
    """Download a public dataset into --dir: verified, resumable, safe to re-run.

    \b
    hashtagger download harrison --dir ~/data/harrison             # images via aria2c (BitTorrent)
    hashtagger download harrison --dir D --archive HARRISON_full.tar  # a tar you already have
    hashtagger download harrison --dir D --mirror https://host/harrison/
    """
    from .download import download_dataset
    from .progress import StageBars

    with StageBars(quiet) as bars:
        result = download_dataset(name, directory, archive=archive, mirror=mirror, progress=bars)
    for line in ([] if quiet else result.notes) + [f"warning: {w}" for w in result.warnings]:
        click.echo(line, err=True)
    click.echo(f"{name} ready: {result.present:,} of {result.listed:,} listed images in {result.data_path}")
    click.echo(f"train with: hashtagger train --config {result.config}")


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
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

    from .data import format_summary, load_dataset, summarize
    from .progress import StageBars

    data = load_dataset(path, write_split_file=False)  # a summary only reads: the split is computed in memory
    with StageBars(quiet) as bars:
        summary = summarize(data, check_images=check_images, progress=bars)
    click.echo(format_summary(summary) if fmt == "text" else json.dumps(summary.to_dict(), indent=2))
    for w in summary.warnings:
        click.echo(f"warning: {w}", err=True)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="hashtagger")
    except BrokenPipeError:
        _quiet_broken_pipe()


def _quiet_broken_pipe() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)
