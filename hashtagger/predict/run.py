"""The `predict` command's library entry: inputs -> pipeline -> hashtags -> output writer."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from hashtagger.predict.hashtags import predict_paths
from hashtagger.predict.inputs import expand_inputs
from hashtagger.predict.output import Writer


def run_predict(
    inputs: Iterable[str],
    *,
    model: str,
    out: TextIO,
    err: TextIO,
    stdin: TextIO | None = None,
    fmt: str = "text",
    top_k: int = 10,
    threshold: float | None = None,
    use_calibration: bool = True,
    hash_prefix: bool = True,
    vocab: str | None = None,
    prior_weight: float | None = None,
    batch_size: int = 32,
    workers: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    quiet: bool = False,
) -> int:
    """The whole `predict` command: results to `out` as they come, one line per failure to `err`.

    Returns the number of inputs that failed (the CLI exits 1 when it is not zero).
    """
    from hashtagger.models import load_tagger
    from hashtagger.predict.pipeline import default_workers, prepare_tagger
    from hashtagger.progress import progress_bar

    inputs = list(inputs)
    single = len(inputs) == 1 and inputs[0] != "-" and Path(inputs[0]).is_file()
    workers = default_workers() if workers is None else workers
    tagger = load_tagger(model, vocab=vocab, prior_weight=prior_weight)
    prepare_tagger(tagger, device, precision, workers)
    writer = Writer(fmt, out, single=single, hash_prefix=hash_prefix)
    failed = 0
    with progress_bar("tagging", unit="photo", quiet=quiet, stream=err) as bar:
        for p in predict_paths(
            tagger,
            expand_inputs(inputs, stdin),
            top_k=top_k,
            threshold=threshold,
            use_calibration=use_calibration,
            batch_size=batch_size,
            workers=workers,
            on_done=bar.update,
        ):
            if p.error is not None:
                failed += 1
                bar.write(f"error: {p.error}")
            writer.write(p)
    writer.close()
    return failed
