"""`hashtagger evaluate`: score models on one split of a dataset and compare them, metric by metric.

Data flow: records -> paths -> `pipeline.score_paths` (the very path `predict` uses, so the numbers
agree with what predict prints) -> one (N, V) float32 score matrix per model -> `hashtagger.metrics`
-> a plain result dict that `report` renders and `plot` draws.

Ground truth. Each model is judged over its own vocabulary (a checkpoint has its own; a built-in
zero-shot model is given the dataset's vocabulary): an image's targets are its tags inside that
vocabulary, while |truth| for Recall@K counts all its tags, as HARRISON does, so tags a model cannot
name still count against it. Every row, the popularity baseline included, is computed on the same
images: a photo that any model could not read is left out of all rows and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from hashtagger.errors import DatasetError, InputError
from hashtagger.evaluate.rows import (
    TagFrequencies,
    dataset_vocabulary,
    frequencies,
    metrics_row,
    model_row,
    popularity_row,
    tag_frequencies,
    truth_matrix,
)
from hashtagger.models.base import Tagger
from hashtagger.models.spec import ModelSpec
from hashtagger.progress import Progress, ProgressFn
from hashtagger.runtime import DEFAULT_RUN, RunOptions
from hashtagger.words import plural

if TYPE_CHECKING:
    from hashtagger.data import Dataset, Record


@dataclass(frozen=True)
class ScoreSet:
    """One model's scores on a list of images: rows of unreadable images are zero, see `errors`."""

    scores: np.ndarray  # (N, V) float32
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> np.ndarray:
        mask = np.ones(self.scores.shape[0], dtype=bool)
        mask[list(self.errors)] = False
        return mask


@dataclass(frozen=True)
class _Model:
    """What is kept of a scored model once the model itself is released."""

    spec: str
    kind: str
    vocabulary: list[str]
    scores: ScoreSet
    thresholds: np.ndarray | float
    label: str


def score_images(
    tagger: Tagger,
    paths: Sequence[str],
    *,
    batch_size: int = 32,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    stage: str = "scoring",
) -> ScoreSet:
    """Score photos through the predict pipeline, holding only the (N, V) float32 matrix.

    Images stream in batches and are never kept decoded; one that fails is a row of zeros and an
    entry in `errors` (index -> one-line reason), never an exception.
    """
    from hashtagger.predict.pipeline import score_paths

    scores = np.zeros((len(paths), len(tagger.vocabulary)), dtype=np.float32)
    errors: dict[int, str] = {}
    stream = score_paths(tagger, paths, batch_size=batch_size, workers=workers)
    for i, scored in enumerate(stream):
        if progress is not None:
            progress(stage, i + 1, len(paths))
        if scored.error is not None or scored.scores is None:
            errors[i] = scored.error or f"{scored.path}: no scores"
        else:
            scores[i] = scored.scores
    return ScoreSet(scores, errors)


def open_model(spec: ModelSpec | str, vocabulary: Sequence[str], run: RunOptions | None = None) -> Tagger:
    """A model as predict opens it (open_tagger); built-in (zero-shot) models score over `vocabulary`."""
    import dataclasses

    from hashtagger.models import open_tagger
    from hashtagger.models.registry import model_names

    spec = as_spec(spec)
    if spec.model not in model_names("builtin"):
        return open_tagger(dataclasses.replace(spec, vocab=None), run)
    tagger = open_tagger(dataclasses.replace(spec, vocab=tuple(vocabulary)), run)
    tagger.name = spec.model
    return tagger


def as_spec(spec: ModelSpec | str) -> ModelSpec:
    """A model name or path as the ModelSpec the CLI would build for it."""
    return spec if isinstance(spec, ModelSpec) else ModelSpec(spec)


def model_thresholds(tagger: Tagger) -> tuple[np.ndarray | float, str]:
    """The cut-offs F1 micro/macro are computed at: calibrated per tag, else the model's default cut-off."""
    if tagger.thresholds is not None:
        thr = np.asarray(tagger.thresholds, dtype=np.float64)
        if thr.shape != (len(tagger.vocabulary),):
            raise InputError(
                f"{tagger.name}: {thr.size} thresholds for {len(tagger.vocabulary)} tags; calibrate it again"
            )
        return thr, "calibrated"
    default = float(tagger.default_threshold)
    return default, f"{default:.4g}"


def _check_calibratable(specs: Sequence[str]) -> None:
    """Before any scoring: --calibrate writes into exactly one checkpoint file."""
    from hashtagger.models.registry import model_names

    if len(specs) != 1:
        raise InputError(f"--calibrate needs exactly one --model (the checkpoint to write), got {len(specs)}")
    from hashtagger.models.exported import is_exported_path

    if is_exported_path(Path(specs[0]).expanduser()):
        raise InputError(
            f"--calibrate: {specs[0]} is an export; calibrate the checkpoint, then export it again"
        )
    if specs[0] in model_names("builtin") or not Path(specs[0]).expanduser().is_file():
        raise InputError(
            f"--calibrate: {specs[0]} is not a checkpoint file "
            "(built-in models have none to store thresholds in)"
        )


def evaluate_dataset(
    dataset: Dataset,
    split: str,
    specs: Sequence[ModelSpec | str],
    *,
    calibrate: bool = False,
    run: RunOptions = DEFAULT_RUN,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score every model on one split and return the comparison as a plain, JSON-ready dict.

    Models are loaded one at a time and only their score matrices are kept. With `calibrate`, the
    single checkpoint model first gets per-tag thresholds fitted on the validation split and
    written into its file (see `calibrate`); the rows then use them. Progress and warnings go to
    `progress`; the shape of the result is documented in the README ("evaluate --format json").
    """
    if not specs:
        raise InputError("give at least one --model")
    models = [as_spec(s) for s in specs]
    if calibrate:
        _check_calibratable([m.model for m in models])
    records = dataset.split(split)
    if not records:
        raise DatasetError(f"{dataset.root}: the {split} split has no tagged images")
    val_records = _validation_records(dataset) if calibrate else None
    progress = progress or Progress()
    say = progress.message
    vocab = dataset_vocabulary(dataset, [r.tags for r in records])
    scored, calibration = _score_models(models, records, val_records, vocab, run, progress)
    ok, errors = _readable(scored, records, split, say)
    untagged = sum(1 for r in dataset.records if not r.tags)
    if untagged:
        one = untagged == 1
        say(
            f"note: {plural(untagged, 'image')} of the dataset {'has' if one else 'have'} no tags and "
            f"{'is' if one else 'are'} not scored"
        )
    freqs = tag_frequencies(dataset)
    result: dict[str, Any] = {
        "dataset": dataset.name,
        "path": str(dataset.root),
        "split": split,
        "images": int(ok.sum()),
        "failed_images": len(errors),
        "untagged_images": untagged,
        "popularity_source": None if freqs is None else freqs.source,
        "models": _rows(scored, records, ok, freqs, vocab, split, say),
        "failures": [{"path": str(records[i].path), "error": errors[i]} for i in sorted(errors)],
    }
    if freqs is None:
        say(f"warning: no popularity baseline: {dataset.root} has no training split and no vocabulary file")
    if calibration is not None:
        result["calibration"] = {"model": models[0].model, **calibration}
    return result


def _score_models(
    models: Sequence[ModelSpec],
    records: list[Record],
    val_records: list[Record] | None,
    vocab: list[str],
    run: RunOptions,
    progress: Progress,
) -> tuple[list[_Model], dict[str, Any] | None]:
    """Load, (calibrate,) score and release each model in turn; only its scores stay in memory."""
    say = progress.message
    runner = _Runner(run.batch_size, run.workers, progress)
    paths = [str(r.path) for r in records]
    scored: list[_Model] = []
    calibration: dict[str, Any] | None = None
    for model in models:
        spec = model.model
        tagger = open_model(model, vocab, run)
        scores = None
        if val_records is not None:
            calibration, scores = _calibrate(tagger, spec, val_records, records, runner)
            say(
                f"wrote {len(tagger.vocabulary)} per-tag thresholds into {spec} (fitted on "
                f"{calibration['images']} validation images); predict now uses them by default"
            )
            if scores is not None:
                say("warning: thresholds fitted on the very images they are evaluated on: F1 is optimistic")
        if scores is None:
            scores = runner.score(tagger, paths, f"scoring {spec}")
        thresholds, label = model_thresholds(tagger)
        scored.append(_Model(spec, tagger.kind, list(tagger.vocabulary), scores, thresholds, label))
        del tagger  # one model in memory at a time; only its scores stay
    return scored, calibration


def _readable(
    scored: list[_Model], records: list[Record], split: str, say: Callable[[str], None]
) -> tuple[np.ndarray, dict[int, str]]:
    """The images every model could read (all rows are computed on them) and why the others failed."""
    ok = np.ones(len(records), dtype=bool)
    errors: dict[int, str] = {}
    for m in scored:
        ok &= m.scores.ok
        for i, e in m.scores.errors.items():
            errors.setdefault(i, e)
    if not ok.any():
        first = errors[min(errors)]
        raise InputError(f"none of the {len(records):,} {split} images could be read; first: {first}")
    if errors:
        _report_failures(say, errors, len(records))
    return ok, errors


def _rows(
    scored: list[_Model],
    records: list[Record],
    ok: np.ndarray,
    freqs: TagFrequencies | None,
    vocab: list[str],
    split: str,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """One row per model, then the popularity baseline's, all on the same readable images."""
    keep_tags = [r.tags for r, k in zip(records, ok, strict=True) if k]
    n_true = np.array([len(t) for t in keep_tags], dtype=np.int64)
    rows = []
    for m in scored:
        targets = truth_matrix(keep_tags, m.vocabulary)
        if not targets.any():
            say(f"warning: {m.spec}: none of its {len(m.vocabulary):,} tags is a tag of the {split} images")
        row_freq = None if freqs is None else frequencies(freqs, m.vocabulary)
        metrics = metrics_row(
            m.scores.scores[ok], targets, n_true, thresholds=m.thresholds, frequencies=row_freq
        )
        rows.append(model_row(m.spec, m.kind, m.vocabulary, targets, n_true, m.label, metrics))
    if freqs is not None:
        rows.append(popularity_row(freqs, vocab, keep_tags, n_true))
    return rows


def _validation_records(dataset: Dataset) -> list[Record]:
    if "validation" not in dataset.splits():
        listed = ", ".join(dataset.splits()) or "none"
        raise DatasetError(
            f"{dataset.root}: --calibrate fits thresholds on the validation split, and this dataset has none "
            f"(splits: {listed})"
        )
    return dataset.split("validation")


@dataclass(frozen=True)
class _Runner:
    """How to score: batch size, decoding threads, and where progress goes."""

    batch_size: int
    workers: int | None  # None: decode_threads(the model's device)
    progress: Progress

    def score(self, tagger: Tagger, paths: Sequence[str], desc: str) -> ScoreSet:
        with self.progress as progress:
            return score_images(
                tagger, paths, batch_size=self.batch_size, workers=self.workers, progress=progress, stage=desc
            )


def _calibrate(
    tagger: Tagger, spec: str, val_records: list[Record], records: list[Record], run: _Runner
) -> tuple[dict[str, Any], ScoreSet | None]:
    """Fit thresholds on validation, store them in the checkpoint and on the tagger.

    Returns the calibration summary and, when the evaluated split is the validation split, its
    scores (thresholds do not change scores) so that they are not computed twice.
    """
    from hashtagger.evaluate.calibrate import fit_calibration, store_thresholds

    s = run.score(tagger, [str(r.path) for r in val_records], "calibrating")
    ok = s.ok
    targets = truth_matrix([r.tags for r, k in zip(val_records, ok, strict=True) if k], tagger.vocabulary)
    thresholds, info = fit_calibration(s.scores[ok], targets)
    info = {"split": "validation", "images": int(ok.sum()), **info}
    store_thresholds(spec, thresholds, tagger.vocabulary, info)
    tagger.thresholds = [float(t) for t in thresholds]
    return info, (s if val_records == records else None)


def _report_failures(say: Callable[[str], None], errors: dict[int, str], total: int, show: int = 5) -> None:
    say(f"warning: {len(errors):,} of {total:,} images could not be read and are left out of every row:")
    for i in sorted(errors)[:show]:
        say(f"  {errors[i]}")
    if len(errors) > show:
        say(f"  ... and {len(errors) - show:,} more (all listed in --format json)")


def run_evaluate(
    data: str,
    specs: Sequence[ModelSpec | str],
    *,
    out: TextIO,
    progress: Progress | None = None,
    split: str = "test",
    fmt: str = "table",
    plot: str | None = None,
    calibrate: bool = False,
    seed: int = 0,
    run: RunOptions = DEFAULT_RUN,
) -> dict[str, Any]:
    """The whole `evaluate` command: load the data, compare the models, print, optionally chart."""
    from hashtagger.data import load_dataset
    from hashtagger.evaluate.report import render

    if plot is not None:
        from hashtagger.evaluate.plot import require_matplotlib

        require_matplotlib(plot)
    progress = progress or Progress()
    dataset = load_dataset(data, seed=seed)
    for w in dataset.warnings:
        progress.message(f"warning: {w}")
    result = evaluate_dataset(dataset, split, specs, calibrate=calibrate, run=run, progress=progress)
    out.write(render(result, fmt))
    out.flush()
    if plot is not None:
        from hashtagger.evaluate.plot import plot_accuracy

        written = plot_accuracy(result, plot)
        progress.message(f"wrote chart {written}")
    return result
