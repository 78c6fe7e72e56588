"""Batched, streaming inference: paths -> decoded tensors -> model -> scores, in input order.

Decoding runs in a bounded pool of worker threads (Pillow releases the GIL while it decodes and
resizes) so that it overlaps the forward pass; at most a few batches are in flight, so memory
stays flat however many photos stream through. Shared by `predict` and `evaluate`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from hashtagger.errors import ImageError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models.base import Tagger
from hashtagger.runtime import decode_threads


@dataclass(frozen=True)
class Failed:
    """An input that could not be used before decoding (missing path, empty folder...)."""

    path: str
    error: str


@dataclass(frozen=True)
class Encoded:
    """A photo whose bytes were read elsewhere (object storage, a Ray Data block); `path` names it."""

    path: str
    data: bytes


@dataclass(frozen=True)
class Scored:
    """One photo's outcome: scores over the tagger's vocabulary, or a one-line error."""

    path: str
    scores: np.ndarray | None = None
    error: str | None = None
    parts: Any = None  # hashtagger.rank.Ranked for this photo, from models that rank with tag statistics


def _name(item: str | Encoded) -> str:
    return item.path if isinstance(item, Encoded) else item


def _decode(pre: Preprocessing, item: str | Encoded) -> np.ndarray | str:
    path = _name(item)
    try:
        return pre.load_array(path, item.data if isinstance(item, Encoded) else None)
    except ImageError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - one bad photo never stops a batch
        return f"{path}: cannot decode image ({type(e).__name__}: {e})"


def decode_stream(
    pre: Preprocessing, items: Iterable[str | Encoded | Failed], workers: int, prefetch: int
) -> Iterator[tuple[str, np.ndarray | str]]:
    """Decode in input order with at most `prefetch` photos in flight."""
    if workers <= 0:
        for item in items:
            yield (item.path, item.error) if isinstance(item, Failed) else (_name(item), _decode(pre, item))
        return
    pending: deque[tuple[str, Future[np.ndarray | str] | str]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
    try:  # stopped early (Ctrl-C, a closed pipe): drop queued photos instead of decoding them all
        for item in items:
            if isinstance(item, Failed):
                pending.append((item.path, item.error))
            else:
                pending.append((_name(item), pool.submit(_decode, pre, item)))
            while len(pending) > prefetch:
                path, fut = pending.popleft()
                yield path, fut if isinstance(fut, str) else fut.result()
        while pending:
            path, fut = pending.popleft()
            yield path, fut if isinstance(fut, str) else fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def score_paths(
    tagger: Tagger,
    items: Iterable[str | Encoded | Failed],
    *,
    batch_size: int = 32,
    workers: int | None = None,
) -> Iterator[Scored]:
    """Score every photo, yielding results in input order as soon as their batch is done.

    The tagger must already be on its device and precision (see `runtime.prepare`).
    """

    workers = decode_threads(tagger.device) if workers is None else workers
    window: list[tuple[str, np.ndarray | str]] = []
    arrays = 0
    for path, decoded in decode_stream(tagger.preprocessing, items, workers, prefetch=2 * batch_size):
        window.append((path, decoded))
        if not isinstance(decoded, str):
            arrays += 1
        if arrays >= batch_size:
            yield from _flush(tagger, window)
            window, arrays = [], 0
    if window:
        yield from _flush(tagger, window)


def _flush(tagger: Tagger, window: list[tuple[str, np.ndarray | str]]) -> Iterator[Scored]:
    good = [a for _, a in window if not isinstance(a, str)]
    scores = parts = None
    if good:
        scores, parts = tagger.score_explained(np.stack(good))
    row = 0
    for path, decoded in window:
        if isinstance(decoded, str):
            yield Scored(path, error=decoded)
        else:
            yield Scored(path, scores=scores[row], parts=None if parts is None else parts.row(row))  # type: ignore[index]
            row += 1
