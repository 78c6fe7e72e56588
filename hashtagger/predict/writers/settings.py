"""What the user asked to be written where: the values of predict's writer options, in one object.

Standard library only, so that the Click layer can build it without importing anything heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGETS = ("xmp", "embed", "txt")


@dataclass(frozen=True)
class WriterSettings:
    """Targets (`--write`), how they are named and merged, and the tag filters for every output."""

    write: tuple[str, ...] = ()
    sidecar_name: str = "full"
    caption_ext: str = ".txt"
    caption_sep: str = ", "
    replace: bool = False
    skip_tagged: bool = False
    dry_run: bool = False
    exclude: tuple[str, ...] = ()
    always: tuple[str, ...] = ()
    rename: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        """Each target once, in the fixed order xmp, embed, txt."""
        return tuple(t for t in TARGETS if t in self.write)
