"""The shared decoder under attack: very narrow photos, JPEGs that end early, corrupt EXIF.

Every path that decodes photos (predict, evaluate, train, the feature cache, SIFT) goes through
image.load.load_image and image.preprocess.Preprocessing, so these tests exercise those.
"""

from __future__ import annotations

import io
import logging
import random
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashtagger.errors import ImageError
from hashtagger.image.load import load_image
from hashtagger.image.preprocess import Preprocessing
from hashtagger.image.transforms import RandomResizedCropFlip, train_transform
from hashtagger.models.sift import bovw_preprocessing


@pytest.fixture
def resize_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pixel counts of every image Pillow's resize returns."""
    sizes: list[int] = []
    real = Image.Image.resize

    def spy(self, size, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        out = real(self, size, *args, **kw)
        sizes.append(out.size[0] * out.size[1])
        return out

    monkeypatch.setattr(Image.Image, "resize", spy)
    return sizes


@pytest.mark.parametrize("size", [(1, 3000), (3000, 1), (2, 2999)])
def test_narrow_photo_work_is_bounded_by_the_output(tmp_path: Path, size, resize_sizes) -> None:
    p = tmp_path / "strip.png"
    Image.new("RGB", size, (200, 10, 10)).save(p)
    pre = Preprocessing(size=32)
    for transform in (pre.load_array, train_transform(pre, "standard"), bovw_preprocessing(32).load_array):
        arr = transform(p, random.Random(0)) if isinstance(transform, RandomResizedCropFlip) else transform(p)
        assert arr.shape == (3, 32, 32) and arr[0].min() == 200
    # Resizing the whole strip first would make 36 x 108,000 pixels; nothing exceeds the output.
    assert resize_sizes and max(resize_sizes) <= 32 * 32


def test_crop_before_resize_matches_the_evaluation_geometry(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (90, 150, 3), dtype=np.uint8))
    pre = Preprocessing(size=48)
    # The reference: resize the shorter side to resize_size, then centre-crop size x size.
    scale = pre.resize_size / 90
    full = im.resize((round(150 * scale), pre.resize_size), Image.Resampling.BICUBIC)
    left, top = (full.size[0] - 48) // 2, (full.size[1] - 48) // 2
    reference = np.asarray(full.crop((left, top, left + 48, top + 48)), dtype=int)
    got = np.asarray(pre.resize_crop(im), dtype=int)
    assert got.shape == reference.shape and np.abs(got - reference).max() <= 1


def _jpeg(size: tuple[int, int] = (256, 192), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    im = Image.fromarray(base).resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("cut", [0.5, 0.9])
@pytest.mark.parametrize("draft", [None, 32])
def test_jpeg_cut_with_an_end_marker_is_truncated(tmp_path: Path, cut: float, draft) -> None:
    data = _jpeg()
    p = tmp_path / "half.jpg"
    p.write_bytes(data[: int(len(data) * cut)] + b"\xff\xd9")
    with pytest.raises(ImageError, match=r"half\.jpg: truncated image \(premature end of JPEG data"):
        load_image(p, draft_size=draft)
    whole = tmp_path / "whole.jpg"
    whole.write_bytes(data)
    assert load_image(whole, draft_size=draft).size[0] > 0


def test_huge_jpeg_header_over_tiny_data_is_truncated(tmp_path: Path) -> None:
    data = bytearray(_jpeg((16, 16)))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 9000, 9000)
    p = tmp_path / "header.jpg"
    p.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"bytes cannot hold 9000x9000 pixels"):
        load_image(p, draft_size=64)


def test_uniform_photos_that_are_not_grey_fill_load(tmp_path: Path) -> None:
    for colour in ((127, 127, 127), (0, 0, 0), (255, 255, 255)):
        p = tmp_path / "flat.jpg"
        Image.new("RGB", (64, 48), colour).save(p, quality=95)
        assert load_image(p).size == (64, 48)


def _bad_exif_jpeg(path: Path) -> Path:
    # One IFD entry whose data lies past the end of the EXIF block: Pillow warns and skips it.
    tiff = struct.pack("<2sHIH", b"II", 42, 8, 1) + struct.pack("<HHII", 0x010F, 2, 100, 1000) + b"\0" * 4
    Image.new("RGB", (32, 24), "red").save(path, exif=b"Exif\x00\x00" + tiff)
    return path


def test_pillow_warnings_name_the_photo(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from hashtagger.predict.pipeline import decode_stream

    paths = [str(_bad_exif_jpeg(tmp_path / f"exif{i}.jpg")) for i in range(4)]
    with warnings.catch_warnings(record=True) as leaked, caplog.at_level(logging.WARNING, "hashtagger.image"):
        warnings.simplefilter("always")
        decoded = list(decode_stream(Preprocessing(size=16), paths, workers=3, prefetch=4))
    assert all(not isinstance(a, str) for _, a in decoded)  # a warning is not an error
    assert not [w for w in leaked if "Tag data" in str(w.message)]  # not as a bare Pillow warning
    lines = [r.getMessage() for r in caplog.records]
    for p in paths:
        assert sum(line.startswith(f"warning: {p}: ") for line in lines) >= 1, lines


def _textured_jpeg(size: tuple[int, int] = (320, 240), progressive: bool = False) -> bytes:
    """A photo-like JPEG: colour gradients plus sensor-like noise, down to its last row."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    arr = np.stack([x * 255 / size[0], y * 255 / size[1], (x + y) * 255 / sum(size)], -1)
    arr = np.clip(arr + rng.normal(0, 20, arr.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90, progressive=progressive)
    return buf.getvalue()


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("draft", [None, 64])
def test_jpeg_missing_its_last_bytes_is_used_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, progressive: bool, draft
) -> None:
    # Like HARRISON's fixed sun/image_99.jpg: only the last 4 bytes (end marker included) are gone.
    data = _textured_jpeg(progressive=progressive)
    whole, cut = tmp_path / "whole.jpg", tmp_path / "cut.jpg"
    whole.write_bytes(data)
    cut.write_bytes(data[:-4])
    with caplog.at_level(logging.WARNING, "hashtagger.image"):
        im = load_image(cut, draft_size=draft)
    assert im.size == load_image(whole, draft_size=draft).size
    diff = np.abs(np.asarray(im, dtype=int) - np.asarray(load_image(whole, draft_size=draft), dtype=int))
    assert diff[-8:].mean() < 8  # the bottom rows are the photo's, not grey fill
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"warning: {cut}: JPEG ends early (no end marker) but its last rows decode; used as is"]
    with caplog.at_level(logging.WARNING, "hashtagger.image"):
        load_image(cut, draft_size=draft)  # the next epoch's decode: no second line
    assert len(caplog.records) == 1
    assert cut.read_bytes() == data[:-4]  # the user's file is not repaired behind their back


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_cut_short_without_an_end_marker_is_still_refused(tmp_path: Path, progressive: bool) -> None:
    # Cut where the rest of the photo is the decoder's grey fill: half of a baseline JPEG, or within
    # a progressive one's first scan (the one that carries every block's base colour).
    data = _textured_jpeg(progressive=progressive)
    second_scan = data.find(b"\xff\xda", data.find(b"\xff\xda") + 2)
    p = tmp_path / "half.jpg"
    p.write_bytes(data[: (second_scan if progressive else len(data)) // 2])
    with pytest.raises(ImageError, match=r"half\.jpg: truncated image \(premature end of JPEG data"):
        load_image(p)


def test_progressive_jpeg_cut_after_its_first_scan_is_the_whole_photo_less_sharp(tmp_path: Path) -> None:
    # Every later scan only sharpens: a photo cut there shows all of its rows, so it is used (with a warning).
    data = _textured_jpeg(progressive=True)
    p = tmp_path / "half.jpg"
    p.write_bytes(data[: len(data) // 2])
    whole = np.asarray(Image.open(io.BytesIO(data)), dtype=int)
    assert np.abs(np.asarray(load_image(p), dtype=int) - whole).mean() < 10  # the photo, short of fine detail


def test_every_loader_takes_a_jpeg_missing_its_last_bytes(tmp_path: Path) -> None:
    # predict and evaluate (Preprocessing, byte or path input), train (its transform), SIFT: one loader.
    data = _textured_jpeg()[:-4]
    p = tmp_path / "cut.jpg"
    p.write_bytes(data)
    pre = Preprocessing(size=32)
    assert pre.load_array(p).shape == (3, 32, 32)
    assert load_image("remote/cut.jpg", data=data).size == (320, 240)
    assert train_transform(pre, "standard")(p, random.Random(0)).shape == (3, 32, 32)
    assert bovw_preprocessing(32).load_array(p).shape == (3, 32, 32)
    half = tmp_path / "half.jpg"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="premature end of JPEG data"):
        pre.load_array(half)
