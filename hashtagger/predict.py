"""From what the user typed to hashtags: expand inputs, score them, pick the tags to print."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import numpy as np

from .images import is_image_path
from .models.base import Tagger
from .output import Hashtag, Prediction, Writer
from .pipeline import Failed, Scored, score_paths

_GLOB_CHARS = frozenset("*?[")


def _walk_images(folder: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder, onerror=None, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            os.path.join(root, f) for f in sorted(files) if not f.startswith(".") and is_image_path(Path(f))
        )
    return found


def _expand_one(arg: str, stdin: TextIO | None) -> Iterator[str | Failed]:
    if arg == "-":
        if stdin is None:
            yield Failed("-", "-: no standard input to read paths from")
            return
        for line in stdin:
            line = line.rstrip("\r\n")
            if line.strip():
                yield from _expand_one(line, None) if line != "-" else ()
        return
    path = Path(arg).expanduser()
    if path.is_dir():
        images = _walk_images(path)
        if not images:
            yield Failed(
                arg, f"{arg}: folder contains no images ({', '.join(sorted({'.jpg', '.png', '.webp'}))}, ...)"
            )
        yield from images
    elif path.exists() or os.path.lexists(path):
        yield str(path)
    elif any(c in arg for c in _GLOB_CHARS):
        matches = sorted(glob.glob(os.path.expanduser(arg), recursive=True))
        if not matches:
            yield Failed(arg, f"{arg}: pattern matches no files")
        for m in matches:
            if Path(m).is_dir():
                yield from _walk_images(Path(m))
            elif is_image_path(Path(m)):
                yield m
    else:
        yield Failed(arg, f"{arg}: no such file or folder")


def expand_inputs(args: Iterable[str], stdin: TextIO | None = None) -> Iterator[str | Failed]:
    """Files, folders (recursive), glob patterns and '-' (paths on stdin), in the order given, each once."""
    seen: set[str] = set()
    for arg in args:
        for item in _expand_one(arg, stdin):
            if isinstance(item, Failed):
                yield item
                continue
            key = os.path.realpath(item)
            if key not in seen:
                seen.add(key)
                yield item


def select_hashtags(
    scores: np.ndarray,
    vocabulary: list[str],
    top_k: int = 10,
    threshold: float | None = None,
    thresholds: list[float] | None = None,
) -> list[Hashtag]:
    """Top-k tags, best first (ties: earlier vocabulary entry first), minus those under the cut-off.

    `threshold` (the user's) wins over per-tag calibrated `thresholds` stored with the model.
    """
    from .metrics import top_k_indices

    idx = top_k_indices(scores[None, :], min(top_k, len(vocabulary)))[0]
    out = []
    for i in idx:
        s = float(scores[i])
        cut = threshold if threshold is not None else (thresholds[i] if thresholds is not None else None)
        if cut is not None and s < cut:
            continue
        out.append(Hashtag(vocabulary[i], s))
    return out


def predict_paths(
    tagger: Tagger,
    items: Iterable[str | Failed],
    *,
    top_k: int = 10,
    threshold: float | None = None,
    use_calibration: bool = True,
    batch_size: int = 32,
    workers: int | None = None,
    on_done=None,  # noqa: ANN001 - Callable[[int], None]
) -> Iterator[Prediction]:
    """Stream predictions in input order (see pipeline.score_paths for batching)."""
    thresholds = tagger.thresholds if use_calibration else None
    scored: Scored
    for scored in score_paths(tagger, items, batch_size=batch_size, workers=workers, on_done=on_done):
        if scored.error is not None or scored.scores is None:
            yield Prediction(scored.path, error=scored.error or "no scores")
        else:
            yield Prediction(
                scored.path, select_hashtags(scored.scores, tagger.vocabulary, top_k, threshold, thresholds)
            )


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
    from .models import load_tagger
    from .pipeline import default_workers, prepare_tagger
    from .progress import progress_bar

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
