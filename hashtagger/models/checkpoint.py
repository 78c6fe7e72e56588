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
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{p}: checkpoint format {data['format_version']} is newer than this hashtagger "
            f"understands ({FORMAT_VERSION}); upgrade hashtagger"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{p}: checkpoint lacks {', '.join(missing)}")
    return data
