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

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from hashtagger.errors import DatasetError, InputError
from hashtagger.models.base import Tagger
from hashtagger.progress import ProgressFn
from hashtagger.runtime import DEFAULT_RUN, RunOptions

if TYPE_CHECKING:
    from hashtagger.data import Dataset, Record

#: Score cut-off of a model without calibrated thresholds (a sigmoid's natural 0.5).
DEFAULT_THRESHOLD = 0.5
POPULARITY = "popularity"
KS = (1, 5, 10)
#: Keys of every row's "metrics", in order (the JSON/CSV contract).
METRIC_KEYS = (
    *(f"{m}@{k}" for k in KS for m in ("precision", "recall", "accuracy", "f1")),
    "map",
    "f1_micro",
    "f1_macro",
    "map_head",
    "map_tail",
)


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
class TagFrequencies:
    """How often each tag occurs, for the popularity baseline and the head/tail split.

    `source` is 'train' (image counts of the training split; `n_images` is its size) or 'rank'
    (the dataset's vocabulary file, most frequent first, when there is no training split).
    """

    counts: dict[str, float]
    source: str
    n_images: int = 0


@dataclass(frozen=True)
class _Model:
    """What is kept of a scored model once the model itself is released."""

    spec: str
    kind: str
    vocabulary: list[str]
    scores: ScoreSet
    thresholds: np.ndarray | float
    label: str


def truth_matrix(tags: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """(N, V) bool: which of each image's tags are in the vocabulary; tags outside it are ignored."""
    index = {t: j for j, t in enumerate(vocabulary)}
    out = np.zeros((len(tags), len(vocabulary)), dtype=bool)
    for i, image_tags in enumerate(tags):
        cols = [index[t] for t in image_tags if t in index]
        out[i, cols] = True
    return out


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


def metrics_row(
    scores: np.ndarray,
    targets: np.ndarray,
    n_true: np.ndarray,
    *,
    thresholds: float | np.ndarray | None,
    frequencies: np.ndarray | None = None,
) -> dict[str, float | None]:
    """Every metric of one table row, keys as METRIC_KEYS; None where a metric is undefined.

    `thresholds` None (a model without a score scale, e.g. popularity by rank) leaves F1 micro/macro
    out; `frequencies` (V,) picks the head tags for map_head/map_tail, else the evaluated positives.
    """
    from hashtagger.metrics import average_precision, head_tail_map, ranking_metrics, threshold_metrics

    row: dict[str, float | None] = dict(ranking_metrics(scores, targets, n_true, ks=KS))
    if thresholds is None:
        row.update(f1_micro=None, f1_macro=None)
    else:
        row.update(threshold_metrics(scores, targets, thresholds))
    ap = average_precision(scores, targets)
    if frequencies is None:
        row.update(head_tail_map(ap, targets=targets))
    else:
        row.update(head_tail_map(ap, frequencies=frequencies))
    return {k: (None if v is None or math.isnan(v) else float(v)) for k, v in row.items()}


def tag_frequencies(dataset: Dataset) -> TagFrequencies | None:
    """Training-split tag counts, else the vocabulary file's rank order, else None (no honest prior)."""
    if "train" in dataset.splits():
        return TagFrequencies(dict(dataset.tag_counts("train")), "train", len(dataset.split("train")))
    if dataset.vocab_file:
        n = len(dataset.vocab_file)
        return TagFrequencies({t: float(n - i) for i, t in enumerate(dataset.vocab_file)}, "rank")
    return None


def dataset_vocabulary(dataset: Dataset, tags: Sequence[Sequence[str]]) -> list[str]:
    """The tags a zero-shot model ranks: the dataset's vocabulary, else the evaluated images' own tags."""
    vocab = list(dataset.vocabulary())
    if vocab:
        return vocab
    counts = Counter(t for image_tags in tags for t in image_tags)
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def load_model(spec: str, vocabulary: Sequence[str], prior_weight: float | None = None) -> Tagger:
    """A model as predict loads it; built-in (zero-shot) models are scored over `vocabulary`."""
    from hashtagger.models.registry import get_model, load_model

    try:
        builtin = get_model(spec).role == "builtin"
    except InputError:
        builtin = False
    if not builtin:
        return load_model(spec)
    tagger = load_model(spec, vocabulary=list(vocabulary), prior_weight=prior_weight)
    tagger.name = spec
    return tagger


def model_thresholds(tagger: Tagger) -> tuple[np.ndarray | float, str]:
    """The cut-offs F1 micro/macro are computed at: calibrated per tag, else the model's default cut-off."""
    if tagger.thresholds is not None:
        thr = np.asarray(tagger.thresholds, dtype=np.float64)
        if thr.shape != (len(tagger.vocabulary),):
            raise InputError(
                f"{tagger.name}: {thr.size} thresholds for {len(tagger.vocabulary)} tags; calibrate it again"
            )
        return thr, "calibrated"
    default = float(getattr(tagger, "default_threshold", DEFAULT_THRESHOLD))
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
    specs: Sequence[str],
    *,
    prior_weight: float | None = None,
    calibrate: bool = False,
    run: RunOptions = DEFAULT_RUN,
    err: TextIO | None = None,
) -> dict[str, Any]:
    """Score every model on one split and return the comparison as a plain, JSON-ready dict.

    Models are loaded one at a time and only their score matrices are kept. With `calibrate`, the
    single checkpoint model first gets per-tag thresholds fitted on the validation split and
    written into its file (see `calibrate`); the rows then use them. Progress and warnings go to
    `err`; the shape of the result is documented in the README ("evaluate --format json").
    """
    from hashtagger.runtime import prepare

    if not specs:
        raise InputError("give at least one --model")
    if calibrate:
        _check_calibratable(specs)
    records = dataset.split(split)
    if not records:
        raise DatasetError(f"{dataset.root}: the {split} split has no tagged images")
    val_records = _validation_records(dataset) if calibrate else None
    paths = [str(r.path) for r in records]
    tags = [r.tags for r in records]
    n_true = np.array([len(t) for t in tags], dtype=np.int64)
    freqs = tag_frequencies(dataset)
    vocab = dataset_vocabulary(dataset, tags)
    say = _sayer(err)
    runner = _Runner(run.batch_size, run.decode_workers, run.quiet, err)

    scored: list[_Model] = []
    calibration: dict[str, Any] | None = None
    for spec in specs:
        tagger = load_model(spec, vocab, prior_weight)
        prepare(tagger, run)
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

    ok = np.ones(len(paths), dtype=bool)
    errors: dict[int, str] = {}
    for m in scored:
        ok &= m.scores.ok
        for i, e in m.scores.errors.items():
            errors.setdefault(i, e)
    if not ok.any():
        first = errors[min(errors)]
        raise InputError(f"none of the {len(paths):,} {split} images could be read; first: {first}")
    if errors:
        _report_failures(say, errors, len(paths))
    keep_tags = [t for t, k in zip(tags, ok, strict=True) if k]
    untagged = sum(1 for r in dataset.records if not r.tags)
    if untagged:
        say(f"note: {untagged:,} images of the dataset have no tags and are not scored")

    rows = []
    for m in scored:
        targets = truth_matrix(keep_tags, m.vocabulary)
        if not targets.any():
            say(f"warning: {m.spec}: none of its {len(m.vocabulary):,} tags is a tag of the {split} images")
        row_freq = None if freqs is None else _frequencies(freqs, m.vocabulary)
        metrics = metrics_row(
            m.scores.scores[ok], targets, n_true[ok], thresholds=m.thresholds, frequencies=row_freq
        )
        rows.append(_row(m.spec, m.kind, m.vocabulary, targets, n_true[ok], m.label, metrics))
    if freqs is None:
        say(f"warning: no popularity baseline: {dataset.root} has no training split and no vocabulary file")
    else:
        rows.append(_popularity_row(freqs, vocab, keep_tags, n_true[ok]))

    result: dict[str, Any] = {
        "dataset": dataset.name,
        "path": str(dataset.root),
        "split": split,
        "images": int(ok.sum()),
        "failed_images": len(errors),
        "untagged_images": untagged,
        "popularity_source": None if freqs is None else freqs.source,
        "models": rows,
        "failures": [{"path": paths[i], "error": errors[i]} for i in sorted(errors)],
    }
    if calibration is not None:
        result["calibration"] = {"model": specs[0], **calibration}
    return result


def _row(
    spec: str,
    kind: str,
    vocabulary: Sequence[str],
    targets: np.ndarray,
    n_true: np.ndarray,
    thresholds: str | None,
    metrics: dict[str, float | None],
) -> dict[str, Any]:
    covered = float(targets.sum() / n_true.sum()) if n_true.sum() else 0.0
    return {
        "model": spec,
        "kind": kind,
        "vocabulary_size": len(vocabulary),
        "truth_in_vocabulary": covered,
        "thresholds": thresholds,
        "metrics": {k: metrics[k] for k in METRIC_KEYS},
    }


def _frequencies(freqs: TagFrequencies, vocabulary: Sequence[str]) -> np.ndarray:
    return np.array([freqs.counts.get(t, 0.0) for t in vocabulary], dtype=np.float64)


def _popularity_row(
    freqs: TagFrequencies, vocab: Sequence[str], tags: Sequence[Sequence[str]], n_true: np.ndarray
) -> dict[str, Any]:
    """Always the most frequent tags; as a score, each tag's share of the training images."""
    from hashtagger.metrics import popularity_scores

    f = _frequencies(freqs, vocab)
    if freqs.source == "train":
        shares, thresholds, label = f / max(1, freqs.n_images), DEFAULT_THRESHOLD, str(DEFAULT_THRESHOLD)
    else:  # ranks carry no probability: no threshold to cut at
        shares, thresholds, label = f, None, None
    targets = truth_matrix(tags, vocab)
    scores = popularity_scores(len(tags), shares)
    metrics = metrics_row(scores, targets, n_true, thresholds=thresholds, frequencies=f)
    return _row(POPULARITY, POPULARITY, vocab, targets, n_true, label, metrics)


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
    workers: int
    quiet: bool
    err: TextIO | None

    def score(self, tagger: Tagger, paths: Sequence[str], desc: str) -> ScoreSet:
        from hashtagger.progress import StderrProgress

        with StderrProgress(self.err, quiet=self.quiet) as progress:
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


def _sayer(err: TextIO | None) -> Callable[[str], None]:
    def say(line: str) -> None:
        if err is not None:
            err.write(line + "\n")
            err.flush()

    return say


def run_evaluate(
    data: str,
    models: Sequence[str],
    *,
    out: TextIO,
    err: TextIO,
    split: str = "test",
    fmt: str = "table",
    plot: str | None = None,
    calibrate: bool = False,
    seed: int = 0,
    prior_weight: float | None = None,
    run: RunOptions = DEFAULT_RUN,
) -> dict[str, Any]:
    """The whole `evaluate` command: load the data, compare the models, print, optionally chart."""
    from hashtagger.data import load_dataset
    from hashtagger.evaluate.report import render

    if plot is not None:
        from hashtagger.evaluate.plot import require_matplotlib

        require_matplotlib(plot)
    dataset = load_dataset(data, seed=seed)
    for w in dataset.warnings:
        err.write(f"warning: {w}\n")
    result = evaluate_dataset(
        dataset,
        split,
        models,
        prior_weight=prior_weight,
        calibrate=calibrate,
        run=run,
        err=err,
    )
    out.write(render(result, fmt))
    out.flush()
    if plot is not None:
        from hashtagger.evaluate.plot import plot_accuracy

        written = plot_accuracy(result, plot)
        err.write(f"wrote chart {written}\n")
    return result
