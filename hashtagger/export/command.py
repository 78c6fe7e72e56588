"""The `export` command: parse options, call the library, print where the export went and its parity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hashtagger.choices import EXPORT_FORMATS, EXPORT_WEIGHTS
from hashtagger.options import domain_errors, model_options

if TYPE_CHECKING:
    from hashtagger.models.spec import ModelSpec


@click.command()
@model_options(argument=True)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default="onnx",
    show_default=True,
    help="onnx: one .onnx file (ONNX Runtime); openvino: a folder with the OpenVINO IR.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    default=None,
    help="The .onnx file or OpenVINO folder [default: MODEL-NAME.onnx or MODEL-NAME-openvino here]; "
    "only an earlier export is ever replaced.",
)
@click.option(
    "--precision",
    type=click.Choice(EXPORT_WEIGHTS),
    default="fp32",
    show_default=True,
    help="int8 (ONNX only): post-training quantisation calibrated on --calibration photos.",
)
@click.option(
    "--calibration",
    multiple=True,
    help="Photos (files, folders, globs) for int8 calibration and the parity check; repeatable.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@domain_errors
def export(
    spec: ModelSpec,
    fmt: str,
    output: str | None,
    precision: str,
    calibration: tuple[str, ...],
    quiet: bool,
) -> None:
    """Export a model to ONNX or OpenVINO, to tag photos without PyTorch.

    MODEL is a built-in model (zeroshot, hierse) or a checkpoint from `hashtagger train`. The export
    outputs scores for every tag (dynamic batch); vocabulary, thresholds and preprocessing go with it.

    \b
    hashtagger export zeroshot                  # writes zeroshot.onnx
    hashtagger export runs/clothing/best.pt --format openvino -o clothing-ov
    hashtagger predict photo.jpg --model zeroshot.onnx
    """
    from hashtagger.export.run import export_model
    from hashtagger.progress import StderrProgress

    progress = StderrProgress(quiet=quiet)
    result = export_model(
        spec,
        fmt,
        output,
        weights=precision,
        calibration=calibration,
        progress=progress,
    )
    for p in result.parity:
        progress.message(f"parity vs PyTorch fp32, {p.line()}")
    click.echo(str(result.path))
