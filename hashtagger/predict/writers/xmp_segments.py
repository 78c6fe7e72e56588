"""Does a photo hold XMP that exiv2 would not carry over? Embedding rewrites the XMP that exiv2 parsed;
anything it did not parse would be lost, so such a photo is refused before it is touched.

Three cases, each met in real photos: a packet exiv2 reads but cannot parse (a bare `<!DOCTYPE
x:xmpmeta>`, an unescaped `&`: exiftool reads both); a JPEG APP1 segment with a header exiv2 does not
know (`XMP\\0://ns.adobe.com/xap/1.0/`, as Flickr-era photos carry), whose fields would stay behind in a
packet of their own; and more than one standard XMP packet. Extended XMP (ns.adobe.com/xmp/extension/)
is exiv2's to keep.
"""

from __future__ import annotations

STANDARD = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"
_XMP_ROOTS = (b"<x:xmpmeta", b"<x:xapmeta")
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # JPEG markers without a length


def jpeg_xmp_segments(data: bytes) -> tuple[int, int]:
    """(standard XMP APP1 segments, other APP1 segments that hold XMP) before a JPEG's image data."""
    standard = other = 0
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # start of scan, end of image: no metadata segments after
            break
        if marker in _STANDALONE or marker == 0xFF:
            pos += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and payload.startswith(STANDARD):
            standard += 1
        elif marker == 0xE1 and not payload.startswith(EXTENSION):
            head = payload[:64]
            if head.startswith(b"XMP\x00") or any(root in payload for root in _XMP_ROOTS):
                other += 1
        pos += 2 + max(length, 2)
    return standard, other


def xmp_trouble(data: bytes, packet: str, parsed: int) -> str | None:
    """Why rewriting the photo's metadata would lose XMP it holds, in a few words; None when it would not.

    `packet` and `parsed` are what exiv2 read: its XMP packet and how many properties it parsed from it.
    """
    if packet.strip() and parsed == 0:
        return "exiv2 cannot parse its XMP (exiftool may read it)"
    if data[:2] == b"\xff\xd8":
        standard, other = jpeg_xmp_segments(data)
        if other:
            return "it holds an XMP segment whose header exiv2 does not know"
        if standard > 1:
            return "it holds more than one XMP packet"
    elif not packet.strip() and any(root in data for root in _XMP_ROOTS):
        return "it holds XMP that exiv2 does not read"
    return None
