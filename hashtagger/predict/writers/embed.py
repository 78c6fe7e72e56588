"""Keywords inside the photo file (XMP dc:subject, lr:hierarchicalSubject, digiKam:TagsList, IPTC Keywords).

Uses python-exiv2 (the optional `embed` extra): it rewrites only the metadata segments, so the
compressed pixels, EXIF, GPS and the ICC profile stay as they were. The photo is edited in memory (exiv2
never sees its name, so any file name works), the result is decoded and its keywords read back, and only
then is it written beside the original and renamed over it (hashtagger.files.atomic_write): a failure at
any step leaves the original untouched. A photo holding XMP that exiv2 cannot parse or does not read
(xmp_segments.py) is refused unchanged, since rewriting it would drop that XMP. A symbolic link is written
through to its target; a photo with several hard links is refused, since a rename would split them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hashtagger.errors import InputError, MissingDependencyError
from hashtagger.files import atomic_write, check_writable, remove_stale_temps, write_error
from hashtagger.predict.writers.merge import Keywords, Merged, merge_keywords
from hashtagger.predict.writers.xmp import FIELDS
from hashtagger.predict.writers.xmp_segments import xmp_trouble

#: A temp file of ours beside a photo older than this was left by a killed run, not a live one.
STALE_TEMP_S = 60.0

#: Formats whose metadata exiv2 writes in place (it reads many more).
EMBED_SUFFIXES = frozenset({".jpg", ".jpeg", ".jfif", ".png", ".tif", ".tiff", ".webp"})
_IPTC_KEYWORDS = "Iptc.Application2.Keywords"
_IPTC_CHARSET = "Iptc.Envelope.CharacterSet"
_UTF8 = "\x1b%G"
_IPTC_MAX_BYTES = 64  # the IPTC IIM limit for one keyword; longer ones go to XMP only


def _iptc_words(kw: Keywords) -> list[str]:
    """The keywords IPTC can hold: those within its byte limit (what is written, and checked after)."""
    return [k for k in kw.iptc or [] if len(k.encode("utf-8")) <= _IPTC_MAX_BYTES]


def require_exiv2() -> Any:
    """The exiv2 module, or a one-line error naming the extra to install."""
    try:
        import exiv2
    except ImportError:
        raise MissingDependencyError(
            "--write embed needs python-exiv2: pip install 'hashtagger[embed]' (GPL; see README)"
        ) from None
    exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)  # its raw lines would break the one-line errors
    return exiv2


def _open(exiv2: Any, data: bytes) -> Any:
    """The photo's bytes as an exiv2 image (in memory: `data` must outlive it)."""
    image = exiv2.ImageFactory.open(data)
    image.readMetadata()
    return image


def _xmp_list(exiv2: Any, xmp: Any, key: str) -> list[str]:
    it = xmp.findKey(exiv2.XmpKey(key))
    if it == xmp.end():
        return []
    return [it.toString(i) for i in range(it.count())]


def _read(exiv2: Any, image: Any) -> Keywords:
    xmp = image.xmpData()
    lists = {f: _xmp_list(exiv2, xmp, f"Xmp.{p}.{n}") for f, (p, n, _) in FIELDS.items()}
    if image.checkMode(exiv2.MetadataId.mdIptc) != exiv2.AccessMode.amReadWrite:
        return Keywords(**lists)  # WebP: exiv2 writes no IPTC there, keywords go to XMP only
    iptc = [d.toString() for d in image.iptcData() if d.key() == _IPTC_KEYWORDS]
    return Keywords(**lists, iptc=iptc)


def _keep_raw_times(exiv2: Any, iptc: Any, data: bytes) -> None:
    """Write existing IPTC dates and times back byte for byte.

    exiv2 parses them and writes a time without a zone (`182459`, which the standard does not allow but
    cameras write) back as `182459+0000`; handing it the raw bytes (read with Pillow) keeps them as they were.
    """
    import io

    from PIL import Image, IptcImagePlugin

    try:
        with Image.open(io.BytesIO(data)) as im:
            raw = IptcImagePlugin.getiptcinfo(im) or {}
    except Exception:  # noqa: BLE001 - no readable IPTC block: nothing to keep
        return
    for datum in iptc:
        value = raw.get((datum.record(), datum.tag()))
        if datum.typeId() in (exiv2.TypeId.date, exiv2.TypeId.time) and isinstance(value, bytes):
            datum.setValue(exiv2.StringValue(value.decode("latin-1")))


def _set(exiv2: Any, image: Any, kw: Keywords, data: bytes) -> bytes:
    """The photo with these keywords: its new bytes (everything else exiv2 keeps as it was)."""
    xmp, iptc = image.xmpData(), image.iptcData()
    _keep_raw_times(exiv2, iptc, data)
    for field_name, (prefix, name, kind) in FIELDS.items():
        key = exiv2.XmpKey(f"Xmp.{prefix}.{name}")
        it = xmp.findKey(key)
        if it != xmp.end():
            xmp.eraseFamily(it)
        values = getattr(kw, field_name)
        if values:
            value = exiv2.XmpArrayValue(exiv2.TypeId.xmpBag if kind == "Bag" else exiv2.TypeId.xmpSeq)
            for v in values:
                value.read(v)
            xmp.add(key, value)
    while (it := iptc.findKey(exiv2.IptcKey(_IPTC_KEYWORDS))) != iptc.end():
        iptc.erase(it)
    words = _iptc_words(kw)
    if any(not k.isascii() for k in words):
        iptc[_IPTC_CHARSET] = _UTF8
    for k in words:
        iptc.add(exiv2.IptcKey(_IPTC_KEYWORDS), exiv2.StringValue(k))
    image.writeMetadata()
    return bytes(image.io().data())


def _check(exiv2: Any, data: bytes, expected: Keywords) -> None:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception as e:  # noqa: BLE001 - any decoder failure means: do not rename
        raise InputError(f"photo no longer decodes after writing ({type(e).__name__}); not changed") from None
    got = _read(exiv2, _open(exiv2, data))
    want_iptc = _iptc_words(expected)
    if (got.subject, got.hierarchical, got.tags_list, got.iptc or []) != (
        expected.subject,
        expected.hierarchical,
        expected.tags_list,
        want_iptc,
    ):
        raise InputError("keywords did not read back as written; not changed")


def embed_keywords(
    path: str | Path, new: list[str], *, replace: bool = False, dry_run: bool = False
) -> Merged:
    """Merge `new` into the keywords embedded in the photo; rewrite it only when something changes."""
    exiv2 = require_exiv2()
    path = Path(path)
    if path.suffix.lower() not in EMBED_SUFFIXES:
        known = ", ".join(sorted(EMBED_SUFFIXES))
        raise InputError(
            f"{path}: cannot embed keywords in {path.suffix or 'this'} files ({known}; try --write xmp)"
        )
    try:
        target = _write_target(path)
        data = target.read_bytes()
        image = _open(exiv2, data)
        trouble = xmp_trouble(data, image.xmpPacket(), image.xmpData().count())
        if trouble is not None:
            raise InputError(
                f"{path}: {trouble}; rewriting it could lose fields it holds, so it is not changed "
                "(--write xmp keeps keywords in a sidecar instead)"
            )
        merged = merge_keywords(_read(exiv2, image), new, replace=replace)
        if not merged.changed or dry_run:
            return merged
        check_writable(target)
        edited = _set(exiv2, image, merged.keywords, data)
        _check(exiv2, edited, merged.keywords)
        remove_stale_temps(target.parent, [target.name], older_than=STALE_TEMP_S)
        atomic_write(target, lambda tmp: Path(tmp).write_bytes(edited))
    except exiv2.Exiv2Error as e:
        raise InputError(f"{path}: cannot embed keywords ({_exiv2_message(e)}); not changed") from None
    except InputError as e:
        msg = str(e)
        raise InputError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except OSError as e:  # atomic_write's OutputError already names the photo and the reason
        raise write_error(path, e) from None
    return merged


def _write_target(path: Path) -> Path:
    """The file to rewrite: a link's target (the link stays a link); refused: a photo with hard links."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        links = target.stat().st_nlink
    except OSError as e:
        raise write_error(path, e) from None
    if links > 1:
        raise InputError(
            f"{path}: has {links} hard links, and rewriting it would split them; not changed "
            "(--write xmp keeps keywords in a sidecar instead)"
        )
    return target


def _exiv2_message(e: Exception) -> str:
    args = getattr(e, "args", ())
    return str(args[-1]) if args else str(e)
