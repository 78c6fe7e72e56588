"""What the user typed -> photo paths: files, folders (recursive), glob patterns and '-' (paths on stdin).

Everything streams: folders and patterns are walked lazily (hashtagger.image.walk), so tagging
starts before a large tree has been listed. One rule for exit codes: every input must yield at
least one photo; an empty folder, a pattern that matches nothing and an empty standard input are
each reported as a failed input.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from hashtagger.image.load import is_image_path, is_skipped_photo
from hashtagger.image.walk import WalkError, has_magic, iter_glob, walk_files
from hashtagger.predict.pipeline import Failed


def _reason(e: OSError) -> str:
    return (e.strerror or type(e).__name__).lower()


def _stat_kind(path: str) -> str | OSError:
    """'dir', 'file' or 'missing' for a path given by the user, or the OSError that stat raised."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        # A dangling symlink is still an input: the loader reports it as "no such file".
        return "file" if os.path.lexists(path) else "missing"
    except OSError as e:
        return e
    return "dir" if stat.S_ISDIR(st.st_mode) else "file"


def argument_error(arg: str) -> str | None:
    """The one-line error for a command-line input that cannot yield photos, checked without walking.

    Cheap enough to run before the model loads, so a typo is reported at once. Patterns and '-'
    are only known to be empty once they are read, so they pass here.
    """
    if arg == "-":
        return None
    kind = _stat_kind(os.path.expanduser(arg))
    if isinstance(kind, OSError):
        return f"{arg}: {_reason(kind)}"
    if kind == "missing" and not has_magic(arg):
        return f"{arg}: no such file or folder"
    return None


def is_single_file(arg: str) -> bool:
    """Whether the one input is a plain file (then text output is the bare tag line)."""
    return arg != "-" and _stat_kind(os.path.expanduser(arg)) == "file"


class _Photos:
    """Keeps photo files, counting the photo formats this installation cannot decode."""

    def __init__(self, skipped: Counter[str] | None) -> None:
        self.skipped = skipped

    def __call__(self, name: str) -> bool:
        p = Path(name)
        if is_image_path(p):
            return True
        if self.skipped is not None and is_skipped_photo(p):
            self.skipped[p.suffix.lower()] += 1
        return False


def _walk_images(folder: str, keep: _Photos) -> Iterator[str | Failed]:
    for item in walk_files(folder, keep):
        yield Failed(item.path, item.error) if isinstance(item, WalkError) else item


def _expand_stdin(stdin: TextIO | None, keep: _Photos) -> Iterator[str | Failed]:
    if stdin is None:
        yield Failed("-", "-: no standard input to read paths from")
        return
    lines = 0
    for line in stdin:
        line = line.rstrip("\r\n")
        if line.strip() and line != "-":
            lines += 1
            yield from _expand_path(line, keep)
    if lines == 0:
        yield Failed("-", "-: no paths on standard input")


def _expand_path(arg: str, keep: _Photos) -> Iterator[str | Failed]:
    path = os.path.expanduser(arg)
    kind = _stat_kind(path)
    if isinstance(kind, OSError):
        yield Failed(arg, f"{arg}: {_reason(kind)}")
    elif kind == "dir":
        found = False
        for item in _walk_images(path, keep):
            found = found or not isinstance(item, Failed)
            yield item
        if not found:
            yield Failed(arg, f"{arg}: folder contains no images (.jpg, .png, .webp, ...)")
    elif kind == "file":
        yield path
    elif has_magic(arg):
        yield from _expand_glob(arg, keep)
    else:
        yield Failed(arg, f"{arg}: no such file or folder")


def _expand_glob(pattern: str, keep: _Photos) -> Iterator[str | Failed]:
    found = False
    for match in iter_glob(pattern):
        if os.path.isdir(match):
            for item in _walk_images(match, keep):
                found = found or not isinstance(item, Failed)
                yield item
        elif keep(os.path.basename(match)):
            found = True
            yield match
    if not found:
        yield Failed(pattern, f"{pattern}: pattern matches no photos")


def expand_inputs(
    args: Iterable[str], stdin: TextIO | None = None, skipped: Counter[str] | None = None
) -> Iterator[str | Failed]:
    """Files, folders (recursive), glob patterns and '-' (paths on stdin), in the order given, each once.

    A file reached twice (named twice, or through a symlink) is yielded once. skipped, if given,
    counts by extension the photos a walk passed over because this installation cannot decode them.
    """
    keep = _Photos(skipped)
    seen: set[str] = set()
    for arg in args:
        items = _expand_stdin(stdin, keep) if arg == "-" else _expand_path(arg, keep)
        for item in items:
            if isinstance(item, Failed):
                yield item
                continue
            key = os.path.realpath(item)
            if key not in seen:
                seen.add(key)
                yield item
