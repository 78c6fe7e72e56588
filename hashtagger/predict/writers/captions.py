"""Caption files beside each photo (`photo.txt`, tags joined by ', '), the convention of training tools.

A caption file carries no mark of who wrote which tag, so tags already in it are always kept and
new ones appended (`--replace` cannot tell hashtagger's own tags apart here; delete the file to start over).
A tag that holds the separator is written as the tags it reads back as (`x, y` -> `x` and `y`), so a
second run finds them and the file never grows. Only a regular file is read (a FIFO is refused).
"""

from __future__ import annotations

from pathlib import Path

from hashtagger.errors import InputError
from hashtagger.files import atomic_write, check_writable, os_reason, read_regular
from hashtagger.predict.keywords import keyword, keyword_key

MAX_BYTES = 16 << 20


def caption_path(photo: str | Path, ext: str = ".txt") -> Path:
    """The caption file of a photo: its suffix replaced by `ext` (a.jpg -> a.txt)."""
    photo = Path(photo)
    return photo.with_suffix(ext if ext.startswith(".") else "." + ext)


def split_caption(text: str, sep: str = ", ") -> list[str]:
    """The tags of a caption: split on the separator (its surrounding space ignored), blanks dropped."""
    token = sep.strip() or sep
    parts = text.split(token) if token.strip() else text.split()
    return [keyword(p) for p in parts if keyword(p)]


def read_caption(path: Path, sep: str = ", ") -> list[str]:
    """The tags in a caption file ([] when there is none); InputError when it cannot be read."""
    try:
        return split_caption(read_regular(path, MAX_BYTES).decode("utf-8"), sep)
    except FileNotFoundError:
        return []
    except IsADirectoryError:
        raise InputError(f"{path}: caption path is a folder; not written") from None
    except (OSError, UnicodeDecodeError) as e:
        why = os_reason(e) if isinstance(e, OSError) else e
        raise InputError(f"{path}: cannot read caption file ({why}); left untouched") from None


def write_caption(
    photo: str | Path, new: list[str], *, ext: str = ".txt", sep: str = ", ", dry_run: bool = False
) -> tuple[Path, list[str]]:
    """Append the new tags missing from the photo's caption file; returns its path and the tags added."""
    path = caption_path(photo, ext)
    current = read_caption(path, sep)
    have = {keyword_key(t) for t in current}
    added = []
    for t in (part for tag in new for part in split_caption(tag, sep)):
        if keyword_key(t) not in have:
            have.add(keyword_key(t))
            added.append(t)
    if dry_run or not added:
        return path, added
    check_writable(path)
    text = sep.join(current + added) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))  # OutputError names path
    return path, added
