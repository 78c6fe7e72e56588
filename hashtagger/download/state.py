"""What a download folder remembers between runs (verified tar, extraction done) and small file checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hashtagger.errors import ImageError
from hashtagger.files import atomic_write

STATE_FILE = ".hashtagger-download.json"
CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def count_present(paths: list[Path]) -> int:
    """How many of the paths are files on disk."""
    return sum(1 for p in paths if p.is_file())


def decodes(path: Path) -> bool:
    """Whether the photo at path decodes (the safe loader's rules)."""
    from hashtagger.image.load import load_image

    try:
        load_image(path)
    except ImageError:
        return False
    return True


def read_state(d: Path) -> dict:
    """What an earlier run in folder d recorded ({} when nothing, or unreadable)."""
    try:
        state = json.loads((d / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def write_state(d: Path, state: dict) -> None:
    """Record state in folder d, atomically."""
    text = json.dumps(state, indent=1) + "\n"
    atomic_write(d / STATE_FILE, lambda tmp: Path(tmp).write_text(text))
