"""Counts in messages: "1 sidecar written", "2 sidecars written", never "1 sidecars"."""

from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """'1 photo', '0 photos', '1,234 caption files': `nouns` where adding an s is wrong."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"
