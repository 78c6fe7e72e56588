"""XMP sidecars beside each photo: `photo.jpg.xmp` (digiKam, darktable, Immich) or `photo.xmp` (Lightroom).

An existing sidecar is merged into, keeping every other field it holds; one that cannot be parsed is
left untouched and reported. Nothing is written when the merge changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from hashtagger.errors import InputError
from hashtagger.files import atomic_write, check_writable, os_reason, read_regular
from hashtagger.predict.writers.merge import Merged, merge_keywords
from hashtagger.predict.writers.xmp import MAX_BYTES, XmpError, XmpPacket, check_xml_text


def sidecar_path(photo: str | Path, style: str = "full") -> Path:
    """`full`: photo.jpg.xmp; `base`: photo.xmp (the photo's suffix replaced)."""
    photo = Path(photo)
    return photo.with_name(photo.name + ".xmp") if style == "full" else photo.with_suffix(".xmp")


def read_sidecar(path: Path) -> XmpPacket | None:
    """The parsed sidecar, None when there is none; InputError when it is a folder or unreadable.

    Only a regular file is read: a FIFO or device there is refused at once, never waited on.
    """
    try:
        data = read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InputError(f"{path}: sidecar path is a folder; not written") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read sidecar ({os_reason(e)}); not written") from None
    try:
        return XmpPacket.parse(data, str(path))
    except XmpError as e:
        raise InputError(f"{e}; existing sidecar left untouched") from None


def write_sidecar(
    photo: str | Path, new: list[str], *, style: str = "full", replace: bool = False, dry_run: bool = False
) -> tuple[Path, Merged]:
    """Merge `new` into the photo's sidecar (created when missing); returns its path and the merge."""
    path = sidecar_path(photo, style)
    check_xml_text(new, str(path))
    packet = read_sidecar(path)
    packet = packet or XmpPacket.empty()
    merged = merge_keywords(packet.keywords(), new, replace=replace)
    if dry_run or not merged.changed:
        return path, merged
    check_writable(path)
    packet.set_keywords(merged.keywords)
    data = packet.to_bytes()
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))  # OutputError names path and reason
    return path, merged
