"""The `predict` command's library entry: inputs -> pipeline -> hashtags -> output writer."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from hashtagger.errors import InputError
from hashtagger.files import GuardedOutput
from hashtagger.predict.hashtags import predict_paths
from hashtagger.predict.inputs import argument_error, expand_inputs, is_single_file
from hashtagger.predict.output import Writer, text_path
from hashtagger.predict.pipeline import Failed
from hashtagger.predict.predictions import Prediction
from hashtagger.predict.shard import Shard, ShardSelection
from hashtagger.predict.writers.settings import WriterSettings
from hashtagger.progress import ProgressFn
from hashtagger.runtime import DEFAULT_RUN, RunOptions
from hashtagger.words import plural

if TYPE_CHECKING:
    from hashtagger.predict.writers.library import LibraryWriter
    from hashtagger.progress import StderrProgress

#: Up to this many photos are listed before tagging starts, so that progress has a total and an ETA;
#: beyond it (or with paths on stdin) the photos stream and progress counts without a total.
LIST_LIMIT = 100_000


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
    why: bool = False,
    only: str | None = None,
    group: bool = False,
    profile: str | None = None,
    profile_weight: float = 0.5,
) -> int:
    """The whole `predict` command: results to `out` as they come, one line per failure to `err`.

    `shard` keeps one shard of the inputs; `engine="ray"` tags on a Ray cluster (see ray_engine).
    `writers` adds tag filters and library writers (sidecars, embedded keywords, captions).
    Returns the number of inputs that failed (the CLI exits 1 when it is not zero).
    """
    from hashtagger.predict.writers.library import LibraryWriter
    from hashtagger.progress import StderrProgress

    if engine != "local" and (profile is not None or only is not None or group):
        raise InputError("--profile, --only and --group run with the local engine only, not --engine ray")
    inputs = list(inputs)
    out = GuardedOutput(out)  # type: ignore[assignment]
    single = len(inputs) == 1 and is_single_file(inputs[0])
    library = LibraryWriter(writers or WriterSettings(), top_k=top_k)
    writer = Writer(fmt, out, single=single, hash_prefix=hash_prefix, why=why, group=group)
    # Typos are reported before the model loads (seconds); stdin and patterns stream later.
    early, all_bad = _early_errors(inputs, shard, err)
    if all_bad:
        for arg, e in early.items():
            writer.write(Prediction(arg, error=e))
        writer.close()
        return len(early)
    skipped: Counter[str] = Counter()
    selection = ShardSelection(shard) if shard is not None else None
    items, total = _items(inputs, stdin, selection, skipped, library.pending)
    options = dict(  # a few more tags than top_k when filters will drop some
        model=model, top_k=library.fetch_k(top_k), threshold=threshold, use_calibration=use_calibration,
        vocab=vocab, prior_weight=prior_weight, only=only, profile=profile, profile_weight=profile_weight,
    )  # fmt: skip
    if engine == "local":
        predictions = _local(items, options, run)
    else:
        predictions = _ray(items, options, run, ray_address, ray_cpus_per_actor)
    with StderrProgress(err, quiet=run.quiet) as progress:
        results = counted(predictions, progress, ("tagging", total))
        failed = _write_all(results, writer, library, selection, early, progress, threshold, model)
    writer.close()
    if skipped:
        counts = ", ".join(f"{n} {ext}" for ext, n in sorted(skipped.items()))
        err.write(
            f"skipped {plural(sum(skipped.values()), 'photo')} this installation cannot decode ({counts})\n"
        )
    for line in library.summary():
        err.write(line + "\n")
    return failed


def _write_all(
    predictions: Iterable[Prediction],
    writer: Writer,
    library: LibraryWriter,
    selection: ShardSelection | None,
    early: dict[str, str],
    progress: StderrProgress,
    threshold: float | None,
    model: str,
) -> int:
    """Write each prediction as it comes (library writers and shard numbering first); count failures.

    An error not already said before the model loaded is said on stderr; so is the first photo that
    --threshold leaves without hashtags (the warning's advice depends on the model), and at the end
    how many photos it emptied.
    """
    failed, emptied, seen = 0, 0, 0
    for p in predictions:
        seen += 1
        p = library.apply(p, progress.message)
        if selection is not None:
            p = dataclasses.replace(p, index=selection.position(p.path))
        if p.error is not None:
            failed += 1
            if early.get(p.path) != p.error:
                progress.message(f"error: {text_path(p.error)}")
        elif threshold is not None and not p.hashtags:
            emptied += 1
            if emptied == 1:
                progress.message(threshold_warning(threshold, p.path, model))
        writer.write(p)
    if emptied:
        photos = "photo" if seen == 1 else "photos"
        progress.message(
            f"warning: --threshold {threshold:g} left {emptied} of {seen} {photos} without hashtags"
        )
    return failed


def _early_errors(inputs: list[str], shard: Shard | None, err: TextIO) -> tuple[dict[str, str], bool]:
    """Arguments that name nothing (of this shard), said at once, and whether that is every argument."""
    errors = {arg: e for arg in inputs if (e := argument_error(arg)) is not None}
    early = {a: e for a, e in errors.items() if shard is None or shard.holds(a)}
    for e in early.values():
        err.write(f"error: {text_path(e)}\n")
    return early, len(errors) == len(inputs)


def _items(
    inputs: list[str],
    stdin: TextIO | None,
    selection: ShardSelection | None,
    skipped: Counter[str],
    pending: Callable[[Iterable[Any]], Iterable[Any]],
) -> tuple[Iterable[str | Failed], int | None]:
    """The photos to tag and, when they are listed up front, how many: files, folders and patterns
    (up to LIST_LIMIT photos) give progress a total and an ETA; paths on stdin ('-') stream.
    """
    items: Iterator[Any] = expand_inputs(inputs, stdin, skipped)
    if selection is not None:
        items = selection.select(items)
    items = iter(pending(items))  # --skip-tagged leaves out photos that already carry tags
    if "-" in inputs:
        return items, None
    listed = list(itertools.islice(items, LIST_LIMIT))
    if len(listed) < LIST_LIMIT:
        return listed, len(listed)
    return itertools.chain(listed, items), None


def _local(items: Iterable[str | Failed], options: dict[str, Any], run: RunOptions) -> Iterator[Prediction]:
    """Predictions from a tagger loaded in this process."""
    from hashtagger.models import ModelSpec, open_tagger

    spec = ModelSpec(options["model"], options["vocab"], options["prior_weight"], options.get("profile"),
                     options.get("profile_weight", 0.5))  # fmt: skip
    tagger = open_tagger(spec, run)
    return predict_paths(
        tagger,
        items,
        top_k=options["top_k"],
        threshold=options["threshold"],
        use_calibration=options["use_calibration"],
        batch_size=run.batch_size,
        workers=run.decode_workers(tagger.device),
        only=options.get("only"),
    )


def _ray(
    items: Iterable[str | Failed], options: dict[str, Any], run: RunOptions, address: str | None, cpus: int
) -> Iterator[Prediction]:
    """Predictions from Ray actors running the same pipeline (see ray_engine)."""
    from hashtagger.predict.ray_engine import ray_predictions

    local_only = ("profile", "profile_weight", "only")  # refused with ray before any photo is listed
    options = {k: v for k, v in options.items() if k not in local_only}
    options = {**options, "device": run.device, "precision": run.precision, "workers": run.workers,
               "runtime": run.runtime}  # fmt: skip
    return ray_predictions(
        items, options, address=address, batch_size=run.batch_size, cpus_per_actor=cpus, quiet=run.quiet
    )


def counted(items: Iterable[Any], progress: ProgressFn, stage: tuple[str, int | None]) -> Iterator[Any]:
    """Yield items, reporting progress(label, done, total) after each: progress for a stream of results."""
    label, total = stage
    for done, item in enumerate(items, 1):
        yield item
        progress(label, done, total)


def threshold_warning(threshold: float, path: str, model: str) -> str:
    """Said once per run, the first time --threshold leaves a photo without any hashtag."""
    from hashtagger.models.registry import model_names

    line = f"warning: --threshold {threshold:g} removed every hashtag of {text_path(path)}"
    if model in model_names("builtin"):
        line += (
            "; a built-in model's score is the tag's share of what the photo shows, all tags adding up to 1: "
            "0.02 keeps what the model is sure of, 0.005 more; or leave --threshold out and keep --top-k"
        )
    return line
