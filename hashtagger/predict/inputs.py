"""What the user typed -> photo paths: files, folders (recursive), glob patterns and '-' (paths on stdin)."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from hashtagger.image.load import is_image_path
from hashtagger.predict.pipeline import Failed

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
