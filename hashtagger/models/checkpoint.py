"""Self-describing checkpoints, saved and loaded in one place only.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts written with
torch.save and read back with torch.load(weights_only=True): loading never runs code.
Required keys: format, format_version, version, kind, vocabulary, preprocessing, config.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from hashtagger.errors import CheckpointError
from hashtagger.files import ErrorKeepingWriter, atomic_write

FORMAT = "hashtagger-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("kind", "vocabulary", "preprocessing", "config")
MAX_ARCHIVE_RATIO = 4  # torch.save stores entries uncompressed: declared sizes ~ the file's own size


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_archive(p: Path) -> None:
    """Refuse a zip whose entries declare far more bytes than the file holds, before torch.load inflates."""
    try:
        with zipfile.ZipFile(p) as zf:
            declared = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip (or a damaged one): torch.load reports it
    size = p.stat().st_size
    if declared > MAX_ARCHIVE_RATIO * size + (1 << 20):
        raise CheckpointError(
            f"{p}: refused: its archive entries declare {declared:,} bytes in a {size:,}-byte file "
            "(torch.save never compresses; this looks like a zip bomb)"
        )


def _check_numbers(name: str, values: Any, length: int | None = None, *, whole: bool = False) -> None:
    """A list or tensor of finite numbers (whole and >= 0 when `whole`), optionally of a given length."""
    import numpy as np
    import torch

    if torch.is_tensor(values):
        arr = values.detach().cpu().numpy() if values.dtype != torch.bfloat16 else values.float().numpy()
    elif isinstance(values, np.ndarray):
        arr = values
    elif isinstance(values, (list, tuple)):
        bad = next((v for v in values if not _is_number(v)), None)
        if bad is not None:
            raise CheckpointError(f"{name} must hold numbers, got {_show(bad)}")
        arr = np.asarray(values, dtype=np.float64)
    else:
        raise CheckpointError(f"{name} must be a list of numbers, got {_show(values)}")
    if arr.dtype.kind not in "fiub":
        raise CheckpointError(f"{name} must hold numbers, got an array of {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise CheckpointError(f"{name} holds NaN or infinite values")
    if length is not None and arr.size != length:
        raise CheckpointError(f"checkpoint has {arr.size} {name} for {length} tags")
    if whole and (arr.dtype.kind == "f" and not (arr == np.round(arr)).all() or (arr < 0).any()):
        raise CheckpointError(f"{name} must hold whole numbers >= 0")


def _check_vocabulary(vocab: Any) -> list[str]:
    if not isinstance(vocab, (list, tuple)):
        raise CheckpointError(f"vocabulary must be a list of tags, got {_show(vocab)}")
    if not vocab:
        raise CheckpointError("vocabulary is empty")
    bad = next((t for t in vocab if not isinstance(t, str) or not t.strip()), None)
    if bad is not None or not all(isinstance(t, str) for t in vocab):
        raise CheckpointError(f"vocabulary must hold non-empty tag strings, got {_show(bad)}")
    seen: set[str] = set()
    for tag in vocab:
        if tag in seen:
            raise CheckpointError(f"vocabulary lists the tag {tag!r} twice")
        seen.add(tag)
    return list(vocab)


def validate_checkpoint(data: dict[str, Any]) -> None:
    """Check every field's type and range; the first problem becomes a CheckpointError naming the field."""
    from hashtagger.image.preprocess import Preprocessing

    for key in ("kind", "version"):
        if key in data and not isinstance(data[key], str):
            raise CheckpointError(f"{key} must be a string, got {_show(data[key])}")
    data["vocabulary"] = _check_vocabulary(data["vocabulary"])
    Preprocessing.from_dict(data["preprocessing"])
    if not isinstance(data["config"], dict):
        raise CheckpointError(f"config must be a mapping, got {_show(data['config'])}")
    tags = len(data["vocabulary"])
    if data.get("thresholds") is not None:
        _check_numbers("thresholds", data["thresholds"], tags)
    if data.get("tag_counts") is not None:
        _check_numbers("tag_counts", data["tag_counts"], tags, whole=True)
    state = data.get("state_dict")
    if state is not None:
        if not isinstance(state, dict):
            raise CheckpointError(f"state_dict must be a mapping of tensors, got {_show(state)}")
        for name, tensor in state.items():
            _check_numbers(f"state_dict[{name!r}]", tensor)
    for key in ("centroids", "svm_weights", "svm_bias"):
        if data.get(key) is not None:
            _check_numbers(key, data[key])


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically, stamping the format and package version."""

    from hashtagger import __version__

    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint payload lacks {', '.join(missing)}")
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "version": __version__, **payload}
    atomic_write(Path(path), lambda tmp: _torch_save(data, tmp), sole_writer=True)
    return Path(path)


def _torch_save(data: dict[str, Any], tmp: str) -> None:
    """torch.save through a Python file, so a full disk surfaces as its OSError (torch hides it)."""
    import torch

    with open(tmp, "wb") as f:
        writer = ErrorKeepingWriter(f)
        try:
            torch.save(data, writer)
        except RuntimeError:
            if writer.error is not None:
                raise writer.error from None
            raise


def load_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint without executing code; one-line errors for bad files."""
    import torch

    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint file")
    if p.is_dir():
        raise CheckpointError(f"{p}: is a folder; give a checkpoint file such as {p / 'best.pt'}")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: empty file, not a checkpoint")
    _check_archive(p)
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a one-line user error
        text = str(e)
        if zipfile.is_zipfile(p) and ("weights_only" in text or "Unsupported global" in text):
            raise CheckpointError(
                f"{p}: refused: the file holds Python objects that would run code on load"
            ) from None
        first = text.strip().splitlines()[0][:160] if text.strip() else type(e).__name__
        if zipfile.is_zipfile(p):
            raise CheckpointError(f"{p}: not a readable checkpoint (truncated or damaged: {first})") from None
        raise CheckpointError(
            f"{p}: not a readable checkpoint (truncated, or not a torch checkpoint file)"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a hashtagger checkpoint (no '{FORMAT}' marker)")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{p}: format_version must be a whole number >= 1, got {_show(version)}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{p}: checkpoint format {version} is newer than this hashtagger "
            f"understands ({FORMAT_VERSION}); upgrade hashtagger"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{p}: checkpoint lacks {', '.join(missing)}")
    try:
        validate_checkpoint(data)
    except CheckpointError as e:
        raise CheckpointError(f"{p}: {e}") from None
    return data
