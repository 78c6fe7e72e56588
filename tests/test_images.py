"""Every bad-input rule of the photo loader, one test each."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashtagger.errors import ImageError
from hashtagger.image.load import load_image
from hashtagger.image.preprocess import IMAGENET


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_zero_byte_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        load_image(p)


def test_truncated_jpeg(photo_factory) -> None:
    p = photo_factory("t.jpg", size=(200, 150))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated|damaged|decode"):
        load_image(p)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("not a photo\n")
    with pytest.raises(ImageError, match="not an image"):
        load_image(p)


def test_decompression_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300 * 300 // 4)
    with pytest.raises(ImageError, match="too large"):
        load_image(p)


def test_cmyk_jpeg(photo_factory) -> None:
    p = photo_factory("cmyk.jpg", mode="CMYK")
    assert Image.open(p).mode == "CMYK"
    im = load_image(p)
    assert im.mode == "RGB" and im.size == (48, 40)


def test_16bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    p = tmp_path / "deep.png"
    arr = np.full((10, 12), 32768, dtype=np.uint16)
    Image.fromarray(arr).save(p)
    assert Image.open(p).mode.startswith("I")
    im = load_image(p)
    assert im.mode == "RGB"
    assert abs(int(np.asarray(im)[0, 0, 0]) - 128) <= 1  # mid-grey, not clipped white


def test_palette_png_with_transparency_on_white(tmp_path: Path) -> None:
    p = tmp_path / "pal.png"
    im = Image.new("P", (8, 8), 0)
    im.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    im.info["transparency"] = 0
    im.save(p, transparency=0)
    out = np.asarray(load_image(p))
    assert out.shape == (8, 8, 3)
    assert tuple(out[0, 0]) == (255, 255, 255)  # fully transparent pixel -> white background


def test_exif_orientation_applied(tmp_path: Path) -> None:
    p = tmp_path / "rot.jpg"
    im = Image.new("RGB", (60, 30), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(p, exif=exif)
    assert load_image(p).size == (30, 60)


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    p = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (16, 16), c) for c in ((250, 0, 0), (0, 0, 250))]
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    arr = np.asarray(load_image(p))
    assert arr[0, 0, 0] > 200 and arr[0, 0, 2] < 50


def test_names_with_spaces_and_non_ascii(photo_factory) -> None:
    p = photo_factory("ünïcode dir/été à la plage 🏖.png")
    assert load_image(p).size == (48, 40)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(photo_factory) -> None:
    p = photo_factory("locked.jpg")
    p.chmod(0)
    try:
        with pytest.raises(ImageError, match="permission denied"):
            load_image(p)
    finally:
        p.chmod(0o644)


def test_unreadable_file_as_root_too(photo_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root bypasses file modes, so simulate the OS refusing the open."""
    p = photo_factory("locked.jpg")
    real_open = Image.open

    def refuse(fp, *a, **k):  # noqa: ANN001, ANN002, ANN003
        if str(fp) == str(p):
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(fp, *a, **k)

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageError, match="permission denied"):
        load_image(p)


def test_draft_mode_keeps_geometry(photo_factory) -> None:
    p = photo_factory("large.jpg", size=(1080, 1080))
    arr = IMAGENET.load_array(p)
    assert arr.shape == (3, 224, 224) and arr.dtype == np.uint8


def test_preprocessing_round_trips_through_dict() -> None:
    from hashtagger.image.preprocess import Preprocessing

    assert Preprocessing.from_dict(IMAGENET.to_dict()) == IMAGENET
