"""The `serve` command: load the model once, then serve the HTTP API and the web page with uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hashtagger.options import FiniteFloat, domain_errors, model_options, run_options

if TYPE_CHECKING:
    from hashtagger.models.spec import ModelSpec
    from hashtagger.runtime import RunOptions


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0: everyone).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@model_options()
@click.option(
    "--api-key",
    envvar="HASHTAGGER_API_KEY",
    default=None,
    help="Require 'Authorization: Bearer KEY' on /v1/ (or set HASHTAGGER_API_KEY).",
)
@click.option(
    "--max-upload-mb",
    default=20.0,
    show_default=True,
    type=FiniteFloat(min=0.001),
    help="Largest request body; bigger uploads are refused as they stream in.",
)
@click.option(
    "--max-files", default=64, show_default=True, type=click.IntRange(min=1), help="Photos per request."
)
@click.option(
    "--max-megapixels",
    default=256.0,
    show_default=True,
    type=FiniteFloat(min=0.001),
    help="Pixels per request (width x height summed over its photos, read before decoding).",
)
@click.option(
    "--upload-timeout",
    default=120.0,
    show_default=True,
    type=FiniteFloat(min=0.1),
    help="Seconds a request body may take to arrive.",
)
@run_options
@domain_errors
def serve(
    host: str,
    port: int,
    spec: ModelSpec,
    api_key: str | None,
    max_upload_mb: float,
    max_files: int,
    max_megapixels: float,
    upload_timeout: float,
    run: RunOptions,
) -> None:
    """Serve an HTTP API and a web page for tagging photos (needs hashtagger[serve]).

    \b
    hashtagger serve                                  # http://127.0.0.1:8000
    hashtagger serve --model zeroshot.onnx --port 9000
    curl -F file=@photo.jpg 'http://127.0.0.1:8000/v1/predict?top_k=5'
    """
    from hashtagger.progress import StderrProgress
    from hashtagger.serve.run import run_server

    run_server(
        host=host,
        port=port,
        spec=spec,
        api_key=api_key or None,
        max_upload_bytes=int(max_upload_mb * 1e6),
        max_files=max_files,
        max_megapixels=max_megapixels,
        upload_timeout=upload_timeout,
        run=run,
        progress=StderrProgress(quiet=run.quiet),
    )
