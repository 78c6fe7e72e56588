"""Finding photos: lazy folder walks and glob matching, with one rule for symbolic links.

The rule, shared by folder walks and globs: symbolic links to folders are followed, but each
real folder (same device and inode) is entered at most once per walk, so links that point back
up the tree (`ln -s .. loop`) end instead of looping. Names starting with '.' are skipped, as the
shell does. Everything is a generator over `os.scandir`, one folder listed at a time: the first
photo is yielded before the rest of the tree has been read. Entries are sorted within a folder,
so the order is stable between runs.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class WalkError:
    """A folder that could not be listed during a walk (the walk goes on without it)."""

    path: str
    error: str


def has_magic(pattern: str) -> bool:
    """Whether a string is a glob pattern (holds *, ? or [)."""
    return any(c in pattern for c in GLOB_CHARS)


def _dir_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _listing(folder: str) -> list[os.DirEntry[str]] | WalkError:
    try:
        with os.scandir(folder or ".") as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as e:
        return WalkError(folder, f"{folder}: cannot list folder ({(e.strerror or str(e)).lower()})")


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def walk_files(
    folder: str,
    keep: Callable[[str], bool],
    visited: set[tuple[int, int]] | None = None,
    enter: Callable[[str], bool] | None = None,
) -> Iterator[str | WalkError]:
    """Files under folder whose name passes keep(name), depth first: a folder's files, then its subfolders.

    visited: (st_dev, st_ino) of folders already entered; shared by a caller that walks several roots.
    enter: subfolders whose name fails enter(name) are skipped (datasets skip archive debris).
    """
    visited = set() if visited is None else visited
    key = _dir_key(folder)
    if key is None or key in visited:
        return
    visited.add(key)
    stack = [folder]
    while stack:
        current = stack.pop()
        entries = _listing(current)
        if isinstance(entries, WalkError):
            yield entries
            continue
        subdirs = []
        for entry in entries:
            path = os.path.join(current, entry.name)
            if _is_dir(entry):
                if enter is not None and not enter(entry.name):
                    continue
                sub = _dir_key(path)
                if sub is not None and sub not in visited:
                    visited.add(sub)
                    subdirs.append(path)
            elif keep(entry.name):
                yield path
        stack.extend(reversed(subdirs))


def _subdirs(folder: str) -> Iterator[str]:
    """folder itself and every real folder below it, once each (the expansion of '**')."""
    visited: set[tuple[int, int]] = set()
    key = _dir_key(folder or ".")
    if key is None:
        return
    visited.add(key)
    stack = [folder]
    while stack:
        current = stack.pop()
        yield current
        entries = _listing(current)
        if isinstance(entries, WalkError):
            continue
        subdirs = []
        for entry in entries:
            if _is_dir(entry):
                path = os.path.join(current, entry.name) if current else entry.name
                sub = _dir_key(path)
                if sub is not None and sub not in visited:
                    visited.add(sub)
                    subdirs.append(path)
        stack.extend(reversed(subdirs))


def _join(base: str, name: str) -> str:
    return os.path.join(base, name) if base else name


def _match(base: str, parts: list[str]) -> Iterator[str]:
    if not parts:
        yield base
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        for folder in _subdirs(base):
            if rest:
                yield from _match(folder, rest)
            else:
                yield folder
        return
    if not has_magic(head):
        path = _join(base, head)
        if os.path.isdir(path) if rest else os.path.lexists(path):
            yield from _match(path, rest)
        return
    entries = _listing(base)
    if isinstance(entries, WalkError):
        return
    for entry in entries:
        if fnmatch.fnmatchcase(entry.name, head) and (not rest or _is_dir(entry)):
            yield from _match(_join(base, entry.name), rest)


def iter_glob(pattern: str) -> Iterator[str]:
    """Paths matching a shell pattern, lazily, in sorted order within each folder.

    '**' as a whole path component matches any number of folders (including none), following the
    module's symlink rule; '*', '?' and '[...]' match within one name and never match a leading '.'.
    """
    pattern = os.path.expanduser(pattern)
    root = os.sep if pattern.startswith(os.sep) else ""
    parts = [p for p in pattern.split(os.sep) if p]
    if not parts:
        return
    yield from _match(root, parts)
