"""Safe photo loading: every rule about bad input lives here, once.

Returns an upright RGB Pillow image or raises ImageError with a one-line reason.
Uses only Pillow and numpy so decoding workers never import torch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from hashtagger.errors import ImageError

_BASE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".jfif", ".ppm"}
_BASE_EXTENSIONS.add(".pgm")
# Formats Pillow decodes only when built with (or given a plugin for) the codec.
_OPTIONAL_EXTENSIONS = {
    "AVIF": (".avif",),
    "HEIF": (".heic", ".heif"),
    "JPEG2000": (".jp2", ".j2k", ".jpx"),
}
#: Photo formats a folder walk recognises but cannot decode here: reported as skipped, not silently.
PHOTO_EXTENSIONS = frozenset(
    {".avif", ".heic", ".heif", ".jxl", ".jp2", ".j2k", ".jpx", ".dng", ".cr2", ".cr3", ".nef", ".arw"}
    | {".raf", ".orf", ".rw2", ".pef", ".srw", ".svg"}
)


def _decodable_extensions() -> frozenset[str]:
    from PIL import features

    Image.init()
    codecs = {"AVIF": "avif", "JPEG2000": "jpg_2000"}
    found = set(_BASE_EXTENSIONS)
    for fmt, exts in _OPTIONAL_EXTENSIONS.items():
        if fmt in Image.OPEN and (fmt not in codecs or features.check(codecs[fmt])):
            found.update(exts)
    return frozenset(found)


IMAGE_EXTENSIONS = _decodable_extensions()

# Truncated files are errors, never silently half-grey photos.
ImageFile.LOAD_TRUNCATED_IMAGES = False
_log = logging.getLogger("hashtagger.image")
#: Photos already reported as ending early (training decodes each photo once per epoch).
_WARNED_ENDED_EARLY: set[str] = set()


def is_image_path(path: Path) -> bool:
    """Whether the name looks like a photo (used when walking folders)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_skipped_photo(path: Path) -> bool:
    """A photo format this installation cannot decode (e.g. .heic without a HEIF plugin)."""
    suffix = path.suffix.lower()
    return suffix in PHOTO_EXTENSIONS and suffix not in IMAGE_EXTENSIONS


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any mode to 8-bit RGB; transparency is composited on white."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping at 255.
        import numpy as np

        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if im.mode == "F":
        import numpy as np

        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo or 1.0) * 255.0
        return Image.fromarray(arr.astype(np.uint8), mode="L").convert("RGB")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def load_image(
    path: str | os.PathLike[str], draft_size: int | None = None, *, data: bytes | None = None
) -> Image.Image:
    """Open a photo as upright RGB.

    draft_size: the shorter side the caller will resize to; JPEGs much larger than that
    are decoded at a reduced DCT scale (Pillow draft mode), which is much faster and
    is used identically in training, evaluation and prediction.
    data: the photo's bytes when they were read elsewhere (object storage, Ray Data); `path`
    then only names it in messages, and the same rules apply.
    Pillow's warnings about the photo (corrupt EXIF, ...) are logged naming the photo.
    """
    p = Path(path)
    try:
        if data is None and p.is_dir():
            raise ImageError(f"{p}: is a folder, not a photo")
        size = len(data) if data is not None else p.stat().st_size
        if size == 0:
            raise ImageError(f"{p}: empty file (0 bytes)")
        with _pillow_warnings(p):
            opened = Image.open(p if data is None else io.BytesIO(data))
        with opened:
            full_size = opened.size
            im = _open_checked(p, opened, draft_size)
            ended_early = not _load_pixels(im)
            if ended_early:
                im = _load_with_end_marker(p, data, draft_size)
            if im.format == "JPEG":
                check_jpeg_complete(p, im, full_size, size, data)
            if ended_early and str(p) not in _WARNED_ENDED_EARLY:  # once, not once per training epoch
                _WARNED_ENDED_EARLY.add(str(p))
                _log.warning(
                    "warning: %s: JPEG ends early (no end marker) but its last rows decode; used as is", p
                )
            with _pillow_warnings(p):
                im = ImageOps.exif_transpose(im)
            return _to_rgb(im)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except PermissionError:
        raise ImageError(f"{p}: permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(f"{p}: not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{p}: image too large (over Pillow's limit of {Image.MAX_IMAGE_PIXELS:,} pixels)"
        ) from None
    except OSError as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg.lower():
            raise ImageError(f"{p}: truncated or damaged image ({msg})") from None
        if e.errno is not None and e.strerror:
            raise ImageError(f"{p}: {e.strerror.lower()}") from None
        raise ImageError(f"{p}: cannot decode image ({msg})") from None
    except (ValueError, SyntaxError, EOFError) as e:
        raise ImageError(f"{p}: cannot decode image ({e or type(e).__name__})") from None


def _open_checked(p: Path, im: Image.Image, draft_size: int | None) -> Image.Image:
    """Size check, first frame, draft mode: the header-only steps, before any pixel is decoded."""
    with _pillow_warnings(p):
        _check_pixels(p, im)
        if getattr(im, "is_animated", False):
            im.seek(0)
        if draft_size and im.format == "JPEG":
            im.draft("RGB", (draft_size, draft_size))
        im.getexif()  # parsed here so that its warnings name this photo
    return im


def _load_pixels(im: Image.Image) -> bool:
    """Decode the pixels; False for a JPEG whose data stops before its end marker.

    Pillow refuses such a file outright ("image file is truncated"), yet photos copied off phones or
    out of old crawls often lack only their last bytes, and every row of them decodes.
    """
    try:
        im.load()
    except OSError as e:
        if im.format == "JPEG" and "truncated" in str(e):
            return False
        raise
    return True


def _load_with_end_marker(p: Path, data: bytes | None, draft_size: int | None) -> Image.Image:
    """Decode a JPEG that ends early as Pillow's LOAD_TRUNCATED_IMAGES would: with an end marker appended.

    The decoder then fills whatever is missing with mid-grey, which check_jpeg_complete refuses;
    the global flag is left alone because other threads decode other photos meanwhile.
    """
    raw = data if data is not None else p.read_bytes()
    with _pillow_warnings(p, log=False):  # the first open already logged them
        im = Image.open(io.BytesIO(raw + b"\xff\xd9"))
        if draft_size:
            im.draft("RGB", (draft_size, draft_size))
    im.load()
    return im


# warnings.catch_warnings swaps process-wide state: decoding threads take turns around the
# header steps that warn (the pixel decoding itself runs outside the lock, in parallel).
_WARNINGS_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_warnings(p: Path, log: bool = True) -> Iterator[None]:
    """Log Pillow's warnings as one line naming the photo; decompression-bomb warnings become errors."""
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield
    for w in caught if log else ():
        text = " ".join(str(w.message).split())
        _log.warning("warning: %s: %s", p, text)


def header_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) read from a photo's header, nothing decoded: what its decoding will cost.

    None where Pillow cannot open it (decoding then fails that photo alone, in one line). Pillow's
    warnings are silenced here: the decoding that follows reports them.
    """
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return im.size
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return None


def check_jpeg_complete(
    path: Path, im: Image.Image, full_size: tuple[int, int], file_size: int, data: bytes | None = None
) -> None:
    """Raise ImageError for a JPEG whose entropy-coded data ends early.

    libjpeg does not fail on a premature end of data (a cut file with an end marker appended):
    it warns, which Pillow drops, and fills every missing block with zero coefficients, which is
    exactly mid-grey 128. Two checks catch it: the file is too small to hold its declared size
    (Huffman coding needs at least one bit per 8x8 block), or the last block decoded (the
    bottom-right one) is that fill: in a real photo, sensor noise rules out an exactly uniform
    mid-grey block.
    """
    w, h = full_size
    blocks = -(-w // 8) * -(-h // 8)
    if file_size * 8 < blocks and not _arithmetic_coded(path, data):
        raise ImageError(
            f"{path}: truncated image (premature end of JPEG data: {file_size:,} bytes "
            f"cannot hold {w}x{h} pixels)"
        )
    if im.mode not in ("RGB", "L") or im.size[1] < 2:
        return
    # The last block in decoding order is the bottom-right MCU; its bottom-right quarter (scaled
    # like the draft) is untouched by chroma upsampling from the blocks before it.
    factor = max([max(t[1], t[2]) for t in getattr(im, "layer", [])] or [1])
    rows = max(1, 4 * factor * im.size[1] // h)
    cols = max(1, 4 * factor * im.size[0] // w)
    import numpy as np

    corner = np.asarray(im)[-rows:, -cols:]
    if corner.min() == 128 and corner.max() == 128:
        raise ImageError(f"{path}: truncated image (premature end of JPEG data: it ends in grey fill)")


def _arithmetic_coded(path: Path, data: bytes | None) -> bool:
    """Whether the JPEG's frame header is an arithmetic-coding one (SOF9-SOF15): no 1 bit/block bound."""
    if data is not None:
        head = data[: 1 << 16]
    else:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    i = 2
    while i + 4 <= len(head) and head[i] == 0xFF:
        marker = head[i + 1]
        if marker in (0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return True
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xDA):
            return False
        i += 2 + int.from_bytes(head[i + 2 : i + 4], "big")
    return False


def _check_pixels(path: Path, im: Image.Image) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    if limit and im.size[0] * im.size[1] > limit:
        raise ImageError(
            f"{path}: image too large ({im.size[0]}x{im.size[1]}, over Pillow's limit of {limit:,} pixels)"
        )
