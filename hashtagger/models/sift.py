"""SIFT descriptors for the bag-of-visual-words model: extracted in worker processes, cached on disk.

SIFT costs far more than the rest of BoVW training (k-means and the SVMs take seconds), and a
photo's descriptors are a pure function of (image bytes, preprocessing, extraction recipe,
OpenCV version). So, like the frozen-backbone features (hashtagger.train.features), they are stored
under that key, one small uint8 .npy per photo written atomically: a second run, a run with
another K, C or histogram, or a run interrupted half-way costs no SIFT pass for what is cached.

Extraction and prediction share `sift_descriptors`, applied to the same `Preprocessing.load_array`
output, so training and prediction see identical descriptors. Worker processes use Pillow, numpy
and OpenCV only (never torch), and OpenCV is imported lazily: the CLI starts without it.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from hashtagger.cache import ArrayCache
from hashtagger.errors import ImageError, MissingDependencyError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.runtime import cpu_cores

CACHE_FORMAT = 1
#: Bump when `sift_descriptors` changes what it returns: older cache entries are then ignored.
RECIPE = 1
DESCRIPTOR_DIM = 128
INSTALL_HINT = "pip install 'hashtagger[bovw]'"


def require_opencv(what: str = "model kind bovw_svm needs OpenCV") -> Any:
    """The cv2 module, or a MissingDependencyError naming the extra to install."""
    try:
        import cv2
    except ImportError:
        raise MissingDependencyError(f"{what}: {INSTALL_HINT}") from None
    if not hasattr(cv2, "SIFT_create"):
        raise MissingDependencyError(
            f"{what} 4.4 or newer (SIFT_create), found {cv2.__version__}: {INSTALL_HINT}"
        )
    return cv2


def bovw_preprocessing(image_size: int) -> Preprocessing:
    """The photo -> array recipe SIFT sees: shorter side to image_size, centre square, no scaling.

    crop_pct 1.0 keeps the whole centre square; mean/std are never applied (SIFT reads raw pixels).
    """
    return Preprocessing(
        size=image_size, crop_pct=1.0, interpolation="bicubic", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)
    )


def sift_descriptors(image: np.ndarray, max_features: int = 0) -> np.ndarray:
    """uint8 CHW (RGB), 1HW or HW array -> (n, 128) uint8 SIFT descriptors of its strongest keypoints.

    OpenCV's float descriptors hold whole numbers 0..255, so uint8 loses nothing and takes a quarter
    of the disk.
    """
    cv2 = require_opencv()
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3:
        gray = cv2.cvtColor(np.ascontiguousarray(a.transpose(1, 2, 0)), cv2.COLOR_RGB2GRAY)
    else:
        gray = np.ascontiguousarray(a)
    _, desc = cv2.SIFT_create(nfeatures=max_features).detectAndCompute(gray.astype(np.uint8), None)
    if desc is None or len(desc) == 0:
        return np.zeros((0, DESCRIPTOR_DIM), np.uint8)
    if max_features:
        desc = desc[:max_features]  # OpenCV keeps ties at the cut, a few more than asked
    return np.clip(np.rint(desc), 0, 255).astype(np.uint8)


class DescriptorCache(ArrayCache):
    """One extraction recipe's descriptors, under root/sift-<key>/<ab>/<digest>.npy.

    The key hashes the preprocessing, max_features, the recipe version and the OpenCV version.
    """

    def __init__(
        self, root: str | os.PathLike[str], preprocessing: Preprocessing, max_features: int, opencv: str
    ) -> None:
        ident = {
            "format": CACHE_FORMAT,
            "descriptor": "sift",
            "recipe": RECIPE,
            "opencv": opencv,
            "max_features": int(max_features),
            "preprocessing": preprocessing.to_dict(),
        }
        super().__init__(root, "sift", ident, "uint8")

    def valid(self, arr: np.ndarray) -> bool:
        return arr.ndim == 2 and arr.shape[1] == DESCRIPTOR_DIM


def default_extract_workers() -> int:
    """One process per core, at most 8: SIFT is CPU-bound and the training process only waits."""
    return max(1, min(8, cpu_cores()))


# ---- extraction (runs in worker processes: Pillow, numpy and OpenCV only) ----

_WORKER: dict[str, Any] = {}


def _init_worker(preprocessing: Preprocessing, cache: DescriptorCache, max_features: int) -> None:
    # Ctrl-C is the training process's business: it stops submitting and keeps what is cached.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2 = require_opencv()
    cv2.setNumThreads(1)  # one process per core already
    _WORKER.update(preprocessing=preprocessing, cache=cache, max_features=max_features)


def extract_one(
    path: str, digest: str, preprocessing: Preprocessing, cache: DescriptorCache, max_features: int
) -> str | None:
    """Decode one photo exactly as prediction does and cache its descriptors; an error line, or None."""
    try:
        array = preprocessing.load_array(path)
    except ImageError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - one bad photo never stops the pass
        return f"{path}: cannot decode image ({type(e).__name__}: {e})"
    cache.put(digest, sift_descriptors(array, max_features))
    return None


def _extract_in_worker(path: str, digest: str) -> str | None:
    return extract_one(path, digest, _WORKER["preprocessing"], _WORKER["cache"], _WORKER["max_features"])


@dataclass
class SiftPass:
    """The descriptor cache's `compute`: each photo decoded and described in a worker process.

    workers > 0 runs that many spawned processes (spawn, not fork: the training process may hold
    torch's and OpenCV's thread pools); 0 runs in this process. When the pass stops early, the photos
    in flight finish (they are cached too) and nothing more is submitted.
    """

    cache: DescriptorCache
    preprocessing: Preprocessing
    max_features: int
    workers: int

    def __call__(self, todo: list[tuple[str, str]]) -> Iterator[tuple[int, int, list[str]]]:
        if self.workers <= 0:
            for key, path in todo:
                error = extract_one(path, key, self.preprocessing, self.cache, self.max_features)
                yield 1, int(error is not None), [error] if error else []
            return
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.preprocessing, self.cache, self.max_features),
        ) as pool:
            pending: set[Future[str | None]] = set()
            queue = iter(todo)
            while True:
                for key, path in itertools.islice(queue, max(0, 4 * self.workers - len(pending))):
                    pending.add(pool.submit(_extract_in_worker, path, key))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                errors = [e for e in (f.result() for f in done) if e]
                yield len(done), len(errors), errors


def load_descriptors(
    keys: Sequence[str | None], cache: DescriptorCache
) -> tuple[list[np.ndarray], list[int]]:
    """(descriptors of the cached records, their positions); records without descriptors are left out."""
    return cache.get_many(keys)
