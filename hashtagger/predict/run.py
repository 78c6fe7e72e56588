"""The `predict` command's library entry: inputs -> pipeline -> hashtags -> output writer."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import TextIO

from hashtagger.predict.hashtags import predict_paths
from hashtagger.predict.inputs import argument_error, expand_inputs, is_single_file
from hashtagger.predict.output import Prediction, Writer, text_path
from hashtagger.predict.shard import Shard, ShardSelection
from hashtagger.predict.writers.settings import WriterSettings
from hashtagger.runtime import DEFAULT_RUN, RunOptions


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
    run: RunOptions = DEFAULT_RUN,
    shard: Shard | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    ray_cpus_per_actor: int = 1,
    writers: WriterSettings | None = None,
) -> int:
    """The whole `predict` command: results to `out` as they come, one line per failure to `err`.

    `shard` keeps one shard of the inputs; `engine="ray"` tags on a Ray cluster (see ray_engine).
    `writers` adds tag filters and library writers (sidecars, embedded keywords, captions).
    Returns the number of inputs that failed (the CLI exits 1 when it is not zero).
    """
    from hashtagger.models import load_tagger
    from hashtagger.predict.writers.library import LibraryWriter
    from hashtagger.progress import progress_bar
    from hashtagger.runtime import prepare

    inputs = list(inputs)
    single = len(inputs) == 1 and is_single_file(inputs[0])
    library = LibraryWriter(writers or WriterSettings(), top_k=top_k)
    fetch_k = library.fetch_k(top_k)  # a few more when filters will drop some
    # Typos are reported before the model loads (seconds); stdin and patterns stream later.
    errors = {arg: e for arg in inputs if (e := argument_error(arg)) is not None}
    early = {a: e for a, e in errors.items() if shard is None or shard.holds(a)}
    for e in early.values():
        err.write(f"error: {text_path(e)}\n")
    if len(errors) == len(inputs):
        writer = Writer(fmt, out, single=single, hash_prefix=hash_prefix)
        for arg, e in early.items():
            writer.write(Prediction(arg, error=e))
        writer.close()
        return len(early)
    skipped: Counter[str] = Counter()
    items = expand_inputs(inputs, stdin, skipped)
    selection = ShardSelection(shard) if shard is not None else None
    if selection is not None:
        items = selection.select(items)  # type: ignore[assignment]
    items = library.pending(items)  # type: ignore[assignment]
    tagger = None
    if engine == "local":
        tagger = load_tagger(model, vocab=vocab, prior_weight=prior_weight)
        prepare(tagger, run)
    writer = Writer(fmt, out, single=single, hash_prefix=hash_prefix)
    failed = 0
    with progress_bar("tagging", unit="photo", quiet=run.quiet, stream=err) as bar:
        if tagger is None:
            from hashtagger.predict.ray_engine import ray_predictions

            options = dict(model=model, top_k=fetch_k, threshold=threshold, use_calibration=use_calibration)
            options.update(vocab=vocab, prior_weight=prior_weight, device=run.device, precision=run.precision)
            predictions = ray_predictions(
                items, {**options, "workers": run.workers}, address=ray_address, batch_size=run.batch_size,
                cpus_per_actor=ray_cpus_per_actor, quiet=run.quiet, on_done=bar.update,
            )  # fmt: skip
        else:
            predictions = predict_paths(
                tagger,
                items,
                top_k=fetch_k,
                threshold=threshold,
                use_calibration=use_calibration,
                batch_size=run.batch_size,
                workers=run.decode_workers,
                on_done=bar.update,
            )
        for p in predictions:
            p = library.apply(p, bar.write)
            if selection is not None:
                p = dataclasses.replace(p, index=selection.position(p.path))
            if p.error is not None:
                failed += 1
                if early.get(p.path) != p.error:
                    bar.write(f"error: {text_path(p.error)}")
            writer.write(p)
    writer.close()
    if skipped:
        counts = ", ".join(f"{n} {ext}" for ext, n in sorted(skipped.items()))
        err.write(f"skipped {sum(skipped.values())} photos this installation cannot decode ({counts})\n")
    for line in library.summary():
        err.write(line + "\n")
    return failed
