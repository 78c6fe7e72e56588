"""The `predict` command's library entry: inputs -> pipeline -> hashtags -> output writer."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from hashtagger.errors import InputError
from hashtagger.files import GuardedOutput
from hashtagger.models.spec import ModelSpec
from hashtagger.predict.hashtags import Selection, predict_paths
from hashtagger.predict.inputs import argument_error, expand_inputs, is_single_file
from hashtagger.predict.output import Writer, text_path
from hashtagger.predict.pipeline import Failed
from hashtagger.predict.predictions import Prediction
from hashtagger.predict.shard import Shard, ShardSelection
from hashtagger.predict.writers.settings import WriterSettings
from hashtagger.progress import Progress, ProgressFn
from hashtagger.runtime import DEFAULT_RUN, RunOptions
from hashtagger.words import plural

if TYPE_CHECKING:
    from hashtagger.predict.writers.library import LibraryWriter

#: Up to this many photos are listed before tagging starts, so that progress has a total and an ETA;
#: beyond it (or with paths on stdin) the photos stream and progress counts without a total.
LIST_LIMIT = 100_000


@dataclass(frozen=True)
class OutputStyle:
    """How results look on stdout: --format, --no-hash, --why, --group."""

    fmt: str = "text"
    hash_prefix: bool = True
    why: bool = False
    group: bool = False


@dataclass(frozen=True)
class ScaleOut:
    """How the run is spread: one shard of the inputs (--shard), and the engine that tags them."""

    shard: Shard | None = None
    engine: str = "local"  # or "ray"
    ray_address: str | None = None
    ray_cpus_per_actor: int = 1


def run_predict(
    inputs: Iterable[str],
    *,
    spec: ModelSpec,
    out: TextIO,
    progress: Progress | None = None,
    stdin: TextIO | None = None,
    selection: Selection | None = None,
    style: OutputStyle | None = None,
    run: RunOptions = DEFAULT_RUN,
    scale: ScaleOut | None = None,
    writers: WriterSettings | None = None,
) -> int:
    """The whole `predict` command: results to `out` as they come; progress and one line per failure
    go to `progress` (the CLI's StderrProgress; by default the `hashtagger` logger).

    `writers` adds tag filters and library writers (sidecars, embedded keywords, captions).
    Returns the number of inputs that failed (the CLI exits 1 when it is not zero).
    """
    from hashtagger.predict.writers.library import LibraryWriter

    progress = progress or Progress()
    selection, style, scale = selection or Selection(), style or OutputStyle(), scale or ScaleOut()
    local_only = spec.profile is not None or selection.only is not None or style.group
    if scale.engine != "local" and local_only:
        raise InputError("--profile, --only and --group run with the local engine only, not --engine ray")
    inputs = list(inputs)
    out = GuardedOutput(out)  # type: ignore[assignment]
    single = len(inputs) == 1 and is_single_file(inputs[0])
    library = LibraryWriter(writers or WriterSettings(), top_k=selection.top_k)
    writer = Writer(
        style.fmt, out, single=single, hash_prefix=style.hash_prefix, why=style.why, group=style.group
    )
    # Typos are reported before the model loads (seconds); stdin and patterns stream later.
    early, all_bad = _early_errors(inputs, scale.shard, progress)
    if all_bad:
        for arg, e in early.items():
            writer.write(Prediction(arg, error=e))
        writer.close()
        return len(early)
    skipped: Counter[str] = Counter()
    sharded = ShardSelection(scale.shard) if scale.shard is not None else None
    items, total = _items(inputs, stdin, sharded, skipped, library.pending)
    fetch = dataclasses.replace(selection, top_k=library.fetch_k(selection.top_k))  # filters drop some
    if scale.engine == "local":
        predictions = _local(items, spec, fetch, run)
    else:
        predictions = _ray(items, spec, fetch, run, scale)
    with progress:
        results = counted(predictions, progress, ("tagging", total))
        failed = _write_all(
            results, writer, library, sharded, early, progress, selection.threshold, spec.model
        )
    writer.close()
    if skipped:
        counts = ", ".join(f"{n} {ext}" for ext, n in sorted(skipped.items()))
        progress.message(
            f"skipped {plural(sum(skipped.values()), 'photo')} this installation cannot decode ({counts})"
        )
    for line in library.summary():
        progress.message(line)
    return failed


def _write_all(
    predictions: Iterable[Prediction],
    writer: Writer,
    library: LibraryWriter,
    selection: ShardSelection | None,
    early: dict[str, str],
    progress: Progress,
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


def _early_errors(inputs: list[str], shard: Shard | None, progress: Progress) -> tuple[dict[str, str], bool]:
    """Arguments that name nothing (of this shard), said at once, and whether that is every argument."""
    errors = {arg: e for arg in inputs if (e := argument_error(arg)) is not None}
    early = {a: e for a, e in errors.items() if shard is None or shard.holds(a)}
    for e in early.values():
        progress.message(f"error: {text_path(e)}")
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


def _local(
    items: Iterable[str | Failed], spec: ModelSpec, selection: Selection, run: RunOptions
) -> Iterator[Prediction]:
    """Predictions from a tagger loaded in this process."""
    from hashtagger.models import open_tagger

    tagger = open_tagger(spec, run)
    return predict_paths(
        tagger,
        items,
        **dataclasses.asdict(selection),
        batch_size=run.batch_size,
        workers=run.decode_workers(tagger.device),
    )


def _ray(
    items: Iterable[str | Failed], spec: ModelSpec, selection: Selection, run: RunOptions, scale: ScaleOut
) -> Iterator[Prediction]:
    """Predictions from Ray actors running the same pipeline (see ray_engine)."""
    from hashtagger.predict.ray_engine import ray_predictions

    return ray_predictions(
        items, spec, selection, run, address=scale.ray_address, cpus_per_actor=scale.ray_cpus_per_actor
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
