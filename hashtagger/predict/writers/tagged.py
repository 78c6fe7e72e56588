"""Does a photo already carry keywords? (for `--skip-tagged`, checked before the model runs)

Looks at both sidecar names, the XMP and IPTC embedded in the file (read with Pillow, so no extra
is needed) and, when captions are being written, the caption file.
"""

from __future__ import annotations

from pathlib import Path

from hashtagger.choices import SIDECAR_NAMES
from hashtagger.files import is_regular_file, read_regular
from hashtagger.predict.writers.captions import caption_path, read_caption
from hashtagger.predict.writers.settings import WriterSettings
from hashtagger.predict.writers.sidecar import sidecar_path
from hashtagger.predict.writers.xmp import MAX_BYTES, XmpPacket


def _packet_has_keywords(data: bytes | str | None, where: str) -> bool:
    if not data:
        return False
    try:
        return XmpPacket.parse(data, where).keywords().any()
    except Exception:  # noqa: BLE001 - unreadable metadata counts as "no keywords"; writing reports it
        return False


def _embedded(photo: Path) -> bool:
    from PIL import Image, IptcImagePlugin

    if not is_regular_file(photo):  # a FIFO would block Pillow's open; the loader reports it
        return False
    try:
        with Image.open(photo) as im:
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
            if _packet_has_keywords(xmp, str(photo)):
                return True
            iptc = IptcImagePlugin.getiptcinfo(im) or {}
            return bool(iptc.get((2, 25)))
    except Exception:  # noqa: BLE001 - an undecodable photo fails later, in the pipeline, with its message
        return False


def already_tagged(photo: str | Path, settings: WriterSettings) -> bool:
    """True when the photo has keywords in a sidecar, embedded, or (writing captions) a caption file."""
    photo = Path(photo)
    for style in SIDECAR_NAMES:
        side = sidecar_path(photo, style)
        try:
            if _packet_has_keywords(read_regular(side, MAX_BYTES), str(side)):
                return True
        except OSError:  # missing; or unreadable, a FIFO, too large: the writer reports those
            pass
    if "txt" in settings.targets:
        try:
            if read_caption(caption_path(photo, settings.caption_ext), settings.caption_sep):
                return True
        except Exception:  # noqa: BLE001 - the caption writer reports unreadable files
            pass
    return _embedded(photo)
