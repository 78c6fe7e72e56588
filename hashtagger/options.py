"""Shared option groups as decorators, and the one place library errors become one-line CLI errors."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from hashtagger.choices import DEVICES, PRECISIONS, RUNTIMES, SIDECAR_NAMES
from hashtagger.errors import HashtaggerError

F = TypeVar("F", bound=Callable[..., Any])


class FiniteFloat(click.FloatRange):
    """A number option that refuses nan and inf: click's FloatRange lets nan through every bound, and a
    nan threshold or weight silently acts as none at all."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def add_options(func: F, options: list[Callable[[F], F]]) -> F:
    """Apply click options to `func` so that --help lists them in the given order."""
    for option in reversed(options):
        func = option(func)
    return func


def domain_errors(func: F) -> F:
    """Turn library errors into one-line click errors (exit status 1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HashtaggerError as e:
            raise click.ClickException(str(e)) from None

    return wrapper  # type: ignore[return-value]


def model_options(
    *, multiple: bool = False, vocab: bool = True, profile: bool = False, argument: bool = False
) -> Callable[[F], F]:
    """Which model and how it ranks, for every command that runs or exports one (predict, evaluate, serve,
    export): -m/--model (export: the MODEL argument), --vocab, --prior-weight and (predict)
    --profile/--profile-weight, built here, once, into one frozen `ModelSpec` the command receives as
    `spec` (or `specs` with `multiple`: evaluate compares models).

    A new model option is added here and to `ModelSpec` (models/spec.py), and `open_tagger` applies it.
    """
    from hashtagger.models.registry import model_names

    text = (
        f"Built-in model ({', '.join(model_names('builtin'))}), a checkpoint from `hashtagger train`, "
        "or an export (.onnx file or OpenVINO folder from `hashtagger export`)"
    )
    if argument:
        model = click.argument("model")
    elif multiple:
        model = click.option(
            "-m", "--model", "models", multiple=True, required=True,
            help=f"{text}; repeat to compare models side by side.",
        )  # fmt: skip
    else:
        model = click.option("-m", "--model", default="zeroshot", show_default=True, help=f"{text}.")
    options = [model, *(_VOCAB if vocab else []), _PRIOR_WEIGHT, *(_PROFILE if profile else [])]

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from hashtagger.models.spec import ModelSpec

            names = ("vocab", "prior_weight", "profile", "profile_weight")
            fields = {k: kwargs.pop(k) for k in names if k in kwargs}
            if multiple:
                kwargs["specs"] = tuple(ModelSpec(m, **fields) for m in kwargs.pop("models"))
            else:
                kwargs["spec"] = ModelSpec(kwargs.pop("model"), **fields)
            return func(*args, **kwargs)

        return add_options(wrapper, options)  # type: ignore[arg-type]

    return decorate


_VOCAB = [
    click.option(
        "--vocab",
        type=click.Path(dir_okay=False),
        default=None,
        help="Zero-shot models: tag against this vocabulary (one tag per line); needs hashtagger[vocab] "
        "(hierse: hashtagger[hierse] and WordNet).",
    )
]
_PRIOR_WEIGHT = click.option(
    "--prior-weight",
    type=FiniteFloat(0, 1),
    default=None,
    help="Zero-shot models: weight of the Instagram tag statistics (0 = visual only).",
)
_PROFILE = [
    click.option(
        "--profile",
        type=click.Path(dir_okay=False),
        default=None,
        help="Your past posts (one line of hashtags per post) or a manifest of your tagged photos: "
        "rank with your own tag popularity and co-occurrence (checkpoints: re-rank).",
    ),
    click.option(
        "--profile-weight",
        type=FiniteFloat(0, 1),
        default=0.5,
        show_default=True,
        help="Weight of your statistics against HARRISON's; a history of n posts gets weight*n/(n+20) "
        "(1 = yours only).",
    ),
]


def run_options(func: F) -> F:
    """Options of every command that runs a model over photos (predict, evaluate, serve).

    The command receives `run`, one frozen `RunOptions` built here, once; a new run option is added here
    and to `RunOptions` (runtime.py), and `runtime.prepare` applies it.
    """
    options = [
        click.option("-b", "--batch-size", default=32, show_default=True, type=click.IntRange(min=1)),
        click.option(
            "--workers",
            type=click.IntRange(min=0),
            default=None,
            help="Decoding threads (default: 1 per 4 cores with the model on the CPU, else 1 per core).",
        ),
        click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True),
        click.option(
            "--precision",
            type=click.Choice(PRECISIONS),
            default="auto",
            show_default=True,
            help="auto = bf16 where the hardware runs it fast, else fp32.",
        ),
        click.option(
            "--runtime",
            type=click.Choice(RUNTIMES),
            default="auto",
            show_default=True,
            help="What runs the model. auto: ONNX Runtime for built-in models and exports (no PyTorch "
            "needed), PyTorch for checkpoints, --vocab, --device cuda/mps and --precision bf16/fp16.",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hashtagger.runtime import RunOptions

        fields = ("device", "precision", "batch_size", "workers", "quiet", "runtime")
        kwargs["run"] = RunOptions(**{k: kwargs.pop(k) for k in fields})
        return func(*args, **kwargs)

    return add_options(wrapper, options)  # type: ignore[arg-type]


def writer_options(func: F) -> F:
    """Options that put tags into the photo library, and the tag filters every output obeys.

    They reach the command as one `writers` argument (a WriterSettings), not as ten keywords.
    """
    from hashtagger.predict.writers.settings import TARGETS, WriterSettings

    names = [
        "write", "sidecar_name", "caption_ext", "caption_sep", "replace",
        "skip_tagged", "dry_run", "exclude", "always", "rename",
    ]  # fmt: skip

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hashtagger.predict.writers.checks import checked_settings

        values = {n: kwargs.pop(n) for n in names}
        try:  # @files read and tags checked before the model loads; a bad value is a usage error
            writers = checked_settings(WriterSettings(**values))
        except HashtaggerError as e:
            raise click.UsageError(str(e)) from None
        return func(*args, writers=writers, **kwargs)

    options = [
        click.option(
            "--write",
            "write",
            multiple=True,
            type=click.Choice(TARGETS),
            help="Also write the tags: xmp = sidecar beside each photo, embed = inside the photo "
            "(needs hashtagger[embed]), txt = caption file. Repeatable.",
        ),
        click.option(
            "--sidecar-name",
            type=click.Choice(SIDECAR_NAMES),
            default="full",
            show_default=True,
            help="full = photo.jpg.xmp (digiKam, darktable, Immich); base = photo.xmp (Lightroom).",
        ),
        click.option("--caption-ext", default=".txt", show_default=True, help="Caption file extension."),
        click.option(
            "--caption-sep", default=", ", show_default=True, help="Separator between caption tags."
        ),
        click.option(
            "--replace", is_flag=True, help="Remove keywords hashtagger wrote before; never the user's own."
        ),
        click.option("--skip-tagged", is_flag=True, help="Leave out photos that already carry keywords."),
        click.option("--dry-run", is_flag=True, help="Print what --write would change; write nothing."),
        click.option(
            "--exclude", multiple=True, metavar="TAG", help="Never output this tag (repeatable, or @file)."
        ),
        click.option(
            "--always",
            multiple=True,
            metavar="TAG",
            help="Always output this tag, first (repeatable, or @file).",
        ),
        click.option(
            "--rename",
            multiple=True,
            metavar="OLD=NEW",
            help="Output NEW instead of OLD (repeatable, or @file).",
        ),
    ]
    return add_options(wrapper, options)  # type: ignore[arg-type]
