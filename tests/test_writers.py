"""`predict --write`: tags in sidecars, inside photos and in caption files, read back by real readers.

A fake model with fixed scores stands in for the real one (the point here is what gets written,
not tag quality). exiftool and exiv2 read the results; those tests skip when the programs are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hashtagger.cli import cli
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models.base import Tagger
from hashtagger.predict.keywords import hashtag, keyword, keyword_key
from hashtagger.predict.writers.merge import Keywords, merge_keywords

VOCAB = ["beach", "hot dog", "Sea", "sunset", "dog"]
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


class FixedTagger(Tagger):
    """Scores every photo the same: beach > hot dog > Sea > sunset > dog."""

    kind = "fixed"

    def __init__(self) -> None:
        self.vocabulary = list(VOCAB)
        self.preprocessing = Preprocessing(size=8, crop_pct=1.0)

    def tag(self, batch):  # noqa: ANN001, ANN201
        import torch

        return torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5]]).repeat(batch.shape[0], 1)


@pytest.fixture(autouse=True)
def fixed_model(register_fake) -> None:  # noqa: ANN001
    register_fake("fixed", FixedTagger)


def run(*args: str):
    return CliRunner().invoke(cli, ["predict", *args, "--model", "fixed", "--workers", "0"])


def need(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} not installed (Debian package {package}); reader check skipped")
    return path


def exiftool(path: Path, *tags: str) -> dict:
    need("exiftool", "libimage-exiftool-perl")
    out = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", *tags, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)[0]


def exiv2_values(path: Path, key: str) -> tuple[str, list[str]]:
    """(type name, values) of one key as the exiv2 program prints it; ('', []) when absent."""
    need("exiv2", "exiv2")
    out = subprocess.run(["exiv2", "-pa", "-K", key, str(path)], capture_output=True, text=True)
    lines = [line.split(None, 3) for line in out.stdout.splitlines() if line.startswith(key)]
    if not lines:
        return "", []
    if key.startswith("Iptc."):
        return lines[0][1], [parts[3] for parts in lines]
    return lines[0][1], lines[0][3].split(", ")


def as_list(value: object) -> list[str]:
    return value if isinstance(value, list) else [] if value is None else [str(value)]


def make_jpeg(path: Path) -> Path:
    """A tiny JPEG with EXIF (camera, date), GPS and an ICC profile, as cameras write them."""
    from PIL import ImageCms

    im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0110] = "TestCam"
    exif.get_ifd(0x8769)[0x9003] = "2024:07:01 10:00:00"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 22.0, 30.0), 3: "E", 4: (4.0, 53.0, 0.0)})
    # IPTC date and a time without a zone, as many cameras write it (the standard wants +HHMM)
    fields = ((55, b"20240701"), (60, b"100000"))
    iptc = b"".join(b"\x1c\x02" + bytes([n]) + len(v).to_bytes(2, "big") + v for n, v in fields)
    app13 = b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + len(iptc).to_bytes(4, "big") + iptc
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, exif=exif, icc_profile=icc, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[:2] + b"\xff\xed" + (len(app13) + 2).to_bytes(2, "big") + app13 + data[2:])
    return path


USER_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:Rating="4">
   <dc:subject><rdf:Seq><rdf:li>Family</rdf:li><rdf:li>BEACH</rdf:li></rdf:Seq></dc:subject>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Summer</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


# ---- the two spellings of a tag, and merging ----


def test_hashtags_have_no_spaces_keywords_no_hash() -> None:
    assert hashtag("hot dog") == "hotdog" and hashtag("rock'n'roll") == "rocknroll"
    assert keyword("#Hot  dog ") == "Hot dog" and keyword_key("#Hot  dog ") == "hot dog"


def test_merge_keeps_user_keywords_and_rerun_changes_nothing() -> None:
    user = Keywords(subject=["Family", "BEACH"])
    first = merge_keywords(user, ["beach", "hot dog"])
    assert first.keywords.subject == ["Family", "BEACH", "hot dog"]  # BEACH is the user's: not doubled
    assert first.keywords.hierarchical == ["hashtagger|hot dog"] and first.added == ["hot dog"]
    assert not merge_keywords(first.keywords, ["beach", "hot dog"]).changed
    again = merge_keywords(first.keywords, ["sea"], replace=True)
    assert again.keywords.subject == ["Family", "BEACH", "sea"] and again.removed == ["hot dog"]
    assert again.keywords.tags_list == ["hashtagger/sea"]


# ---- stdout: filters and the hashtag rule ----


def test_filters_apply_to_stdout(photo_factory, tmp_path: Path) -> None:
    p = photo_factory("a.jpg")
    r = run(
        str(p), "-k", "3", "--quiet", "--exclude", "beach", "--always", "My Trip", "--rename", "sea=ocean"
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.split() == ["#MyTrip", "#hotdog", "#ocean", "#sunset"]  # still 3 from the model
    (tmp_path / "ex.txt").write_text("hot dog\n# a comment line\n\nsunset\n")
    r = run(str(p), "-k", "4", "--quiet", "--exclude", f"@{tmp_path / 'ex.txt'}", "-f", "jsonl")
    assert [h["tag"] for h in json.loads(r.stdout)["hashtags"]] == ["beach", "Sea", "dog"]


def test_bad_filter_values_are_one_line(photo_factory, tmp_path: Path) -> None:
    p = str(photo_factory("a.jpg"))
    r = run(p, "--rename", "nonsense")  # option values are checked as options: usage errors, exit 2
    assert r.exit_code == 2 and "--rename 'nonsense': expected OLD=NEW" in r.stderr
    r = run(p, "--exclude", f"@{tmp_path / 'missing.txt'}")
    assert r.exit_code == 2 and "missing.txt" in r.stderr and "Traceback" not in r.stderr


def test_format_none_and_quiet_writing_print_nothing(photo_factory) -> None:
    p = str(photo_factory("a.jpg"))
    assert run(p, "--quiet", "--format", "none").stdout == ""
    r = run(p, "--quiet", "--write", "txt")
    assert r.exit_code == 0 and r.stdout == ""
    assert run(p, "--quiet", "--write", "txt", "--format", "text", "-k", "1").stdout == "#beach\n"


# ---- XMP sidecars ----


@pytest.mark.parametrize(("style", "name"), [("full", "a.jpg.xmp"), ("base", "a.xmp")])
def test_sidecar_read_back_by_exiftool_and_exiv2(
    photo_factory, tmp_path: Path, style: str, name: str
) -> None:
    p = photo_factory("a.jpg")
    r = run(str(p), "-k", "3", "--quiet", "--write", "xmp", "--sidecar-name", style)
    assert r.exit_code == 0, r.output
    side = tmp_path / name
    assert side.is_file() and not (tmp_path / ("a.xmp" if style == "full" else "a.jpg.xmp")).exists()
    tags = exiftool(side, "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", "-XMP-digiKam:TagsList")
    assert tags["XMP-dc:Subject"] == ["beach", "hot dog", "Sea"]
    assert tags["XMP-lr:HierarchicalSubject"] == ["hashtagger|beach", "hashtagger|hot dog", "hashtagger|Sea"]
    assert tags["XMP-digiKam:TagsList"] == ["hashtagger/beach", "hashtagger/hot dog", "hashtagger/Sea"]
    assert exiv2_values(side, "Xmp.dc.subject") == ("XmpBag", ["beach", "hot dog", "Sea"])
    subject = ET.parse(side).getroot().find(".//{http://purl.org/dc/elements/1.1/}subject")
    assert [c.tag for c in subject] == [f"{RDF}Bag"]  # a Bag, as the XMP specification asks, never a Seq


def test_sidecar_merge_keeps_everything_and_rerun_adds_nothing(photo_factory, tmp_path: Path) -> None:
    p = photo_factory("a.jpg")
    side = tmp_path / "a.jpg.xmp"
    side.write_text(USER_SIDECAR)
    r = run(str(p), "-k", "2", "--quiet", "--write", "xmp")
    assert r.exit_code == 0 and "xmp: 1 sidecar written, 0 unchanged" in r.stderr
    tags = exiftool(side, "-XMP:all")
    assert tags["XMP-dc:Subject"] == ["Family", "BEACH", "hot dog"]
    assert as_list(tags["XMP-lr:HierarchicalSubject"]) == ["hashtagger|hot dog"]  # BEACH stays the user's
    assert tags["XMP-xmp:Rating"] == 4 and tags["XMP-dc:Title"] == "Summer"
    before = side.read_bytes()
    r = run(str(p), "-k", "2", "--quiet", "--write", "xmp")
    assert r.exit_code == 0 and "xmp: 0 sidecars written, 1 unchanged" in r.stderr
    assert side.read_bytes() == before


def test_replace_removes_only_hashtaggers_keywords(photo_factory, tmp_path: Path) -> None:
    p = photo_factory("a.jpg")
    side = tmp_path / "a.jpg.xmp"
    side.write_text(USER_SIDECAR)
    assert run(str(p), "-k", "3", "--quiet", "--write", "xmp").exit_code == 0
    r = run(str(p), "-k", "3", "--quiet", "--write", "xmp", "--replace", "--exclude", "hot dog")
    assert r.exit_code == 0
    tags = exiftool(side, "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject")
    assert tags["XMP-dc:Subject"] == ["Family", "BEACH", "Sea", "sunset"]
    assert tags["XMP-lr:HierarchicalSubject"] == ["hashtagger|Sea", "hashtagger|sunset"]


def test_dry_run_writes_nothing(photo_factory, tmp_path: Path) -> None:
    p = photo_factory("a.jpg")
    side = tmp_path / "a.jpg.xmp"
    side.write_text(USER_SIDECAR)
    before = {f.name: f.read_bytes() for f in tmp_path.iterdir()}
    r = run(str(p), "-k", "2", "--quiet", "--write", "xmp", "--write", "txt", "--dry-run")
    assert r.exit_code == 0, r.output
    assert {f.name: f.read_bytes() for f in tmp_path.iterdir()} == before
    assert f"would write {side}: add hot dog" in r.stderr
    assert f"would write {tmp_path / 'a.txt'}: add beach, hot dog" in r.stderr
    assert "dry run: nothing was written" in r.stderr


def test_skip_tagged_counts_and_leaves_them_out(photo_factory, tmp_path: Path) -> None:
    a, b, c = photo_factory("a.jpg"), photo_factory("b.jpg", seed=2), photo_factory("c.png", seed=3)
    (tmp_path / "a.xmp").write_text(USER_SIDECAR)  # Lightroom-style name counts too
    run(str(c), "--quiet", "--write", "txt")
    r = run(str(tmp_path), "--quiet", "--write", "txt", "--skip-tagged", "-f", "jsonl")
    assert r.exit_code == 0, r.output
    assert [Path(json.loads(x)["path"]).name for x in r.stdout.splitlines()] == ["b.jpg"]
    assert "skipped 2 photos that already carry keywords" in r.stderr
    assert not (tmp_path / "a.txt").exists() and (tmp_path / "b.txt").exists()
    assert b.exists() and a.exists()


def test_summary_counts_read_right_for_one_and_for_many(photo_factory, tmp_path: Path) -> None:
    """'1 sidecars written' and '1 photos would change' read wrong: one helper says each count."""
    a = photo_factory("a.jpg")
    r = run(str(a), "--quiet", "--write", "txt", "--dry-run")
    assert r.stderr.splitlines()[-2:] == [
        "txt: 1 caption file would change, 0 unchanged",
        "dry run: nothing was written",
    ]
    assert (
        run(str(a), "--quiet", "--write", "txt").stderr.splitlines()[-1]
        == "txt: 1 caption file written, 0 unchanged"
    )
    photo_factory("b.jpg", seed=2)
    r = run(str(tmp_path), "--quiet", "--write", "txt", "--skip-tagged")
    assert r.stderr.splitlines()[-2:] == [
        "skipped 1 photo that already carries keywords",
        "txt: 1 caption file written, 0 unchanged",
    ]
    r = run(str(tmp_path), "--quiet", "--write", "txt", "--dry-run")
    assert "txt: 0 caption files would change, 2 unchanged" in r.stderr


def test_failures_are_per_photo(photo_factory, tmp_path: Path) -> None:
    good = photo_factory("good.jpg")
    corrupt = photo_factory("corrupt.jpg", seed=1)
    (tmp_path / "corrupt.jpg.xmp").write_text("<x:xmpmeta><unclosed>")
    photo_factory("folder.jpg", seed=2)
    (tmp_path / "folder.jpg.xmp").mkdir()
    r = run(str(tmp_path), "--quiet", "--write", "xmp", "-f", "jsonl")
    assert r.exit_code == 1
    recs = {Path(json.loads(x)["path"]).name: json.loads(x) for x in r.stdout.splitlines()}
    assert "hashtags" in recs["good.jpg"] and (tmp_path / "good.jpg.xmp").is_file()
    assert (
        "corrupt.jpg.xmp" in recs["corrupt.jpg"]["error"] and "left untouched" in recs["corrupt.jpg"]["error"]
    )
    assert "is a folder" in recs["folder.jpg"]["error"]
    assert (tmp_path / "corrupt.jpg.xmp").read_text() == "<x:xmpmeta><unclosed>"
    assert len([x for x in r.stderr.splitlines() if x.startswith("error:")]) == 2
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert good.exists() and corrupt.exists()


# ---- caption files ----


def test_captions_extension_separator_and_merge(photo_factory, tmp_path: Path) -> None:
    p = photo_factory("a.png")
    (tmp_path / "a.caption").write_text("my own tag|Beach\n")
    r = run(str(p), "-k", "3", "--quiet", "--write", "txt", "--caption-ext", "caption", "--caption-sep", "|")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.caption").read_text() == "my own tag|Beach|hot dog|Sea\n"
    assert run(str(p), "-k", "2", "--quiet", "--write", "txt").exit_code == 0
    assert (tmp_path / "a.txt").read_text() == "beach, hot dog\n"


# ---- embedded keywords (python-exiv2, the `embed` extra) ----


def test_embed_jpeg_keeps_pixels_and_metadata(tmp_path: Path) -> None:
    pytest.importorskip("exiv2", reason="python-exiv2 not installed (pip install 'hashtagger[embed]')")
    p = make_jpeg(tmp_path / "cam.jpg")
    os.chmod(p, 0o640)
    keep = (
        "-EXIF:Model",
        "-EXIF:DateTimeOriginal",
        "-GPS:all",
        "-ICC_Profile:ProfileDescription",
        "-IPTC:TimeCreated",
    )
    before, pixels = exiftool(p, *keep), np.asarray(Image.open(p)).copy()
    r = run(str(p), "-k", "3", "--quiet", "--write", "embed", "--always", "Ünïcode")
    assert r.exit_code == 0, r.output
    tags = exiftool(p, "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", "-IPTC:Keywords")
    assert tags["XMP-dc:Subject"] == ["Ünïcode", "beach", "hot dog", "Sea"]
    assert tags["IPTC:Keywords"] == ["Ünïcode", "beach", "hot dog", "Sea"]
    assert tags["XMP-lr:HierarchicalSubject"][1] == "hashtagger|beach"
    assert exiv2_values(p, "Xmp.dc.subject") == ("XmpBag", ["Ünïcode", "beach", "hot dog", "Sea"])
    assert exiv2_values(p, "Iptc.Application2.Keywords")[1] == ["Ünïcode", "beach", "hot dog", "Sea"]
    assert exiftool(p, *keep) == before and before["GPS:GPSLatitude"]
    assert np.array_equal(np.asarray(Image.open(p)), pixels)
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    data = p.read_bytes()
    r = run(str(p), "-k", "3", "--quiet", "--write", "embed", "--always", "Ünïcode")
    assert r.exit_code == 0 and p.read_bytes() == data and "embed: 0 photos written, 1 unchanged" in r.stderr


def test_embed_failures_leave_photos_untouched(tmp_path: Path, photo_factory) -> None:
    pytest.importorskip("exiv2", reason="python-exiv2 not installed (pip install 'hashtagger[embed]')")
    ro = make_jpeg(tmp_path / "ro.jpg")
    os.chmod(ro, 0o444)
    gif = photo_factory("anim.gif")
    ok = make_jpeg(tmp_path / "ok.jpg")
    before = {f: f.read_bytes() for f in (ro, gif)}
    r = run(str(tmp_path), "--quiet", "--write", "embed", "-f", "jsonl")
    assert r.exit_code == 1
    recs = {Path(json.loads(x)["path"]).name: json.loads(x) for x in r.stdout.splitlines()}
    assert (
        "read-only" in recs["ro.jpg"]["error"]
        and "cannot embed keywords in .gif" in recs["anim.gif"]["error"]
    )
    assert {f: f.read_bytes() for f in (ro, gif)} == before
    assert "hashtags" in recs["ok.jpg"] and exiftool(ok, "-IPTC:Keywords")["IPTC:Keywords"]
    assert sorted(os.listdir(tmp_path)) == ["anim.gif", "ok.jpg", "ro.jpg"]


def test_embed_check_failure_leaves_original(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("exiv2", reason="python-exiv2 not installed (pip install 'hashtagger[embed]')")
    from hashtagger.errors import InputError
    from hashtagger.predict.writers import embed

    def refuse(*a: object) -> None:
        raise InputError("photo no longer decodes after writing; not changed")

    monkeypatch.setattr(embed, "_check", refuse)
    p = make_jpeg(tmp_path / "a.jpg")
    data = p.read_bytes()
    r = run(str(p), "--quiet", "--write", "embed")
    assert r.exit_code == 1 and "a.jpg: photo no longer decodes" in r.stderr
    assert p.read_bytes() == data and os.listdir(tmp_path) == ["a.jpg"]


def test_embed_without_the_extra_is_one_line(photo_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "exiv2", None)
    r = run(str(photo_factory("a.jpg")), "--quiet", "--write", "embed")
    assert r.exit_code == 1 and "hashtagger[embed]" in r.stderr
    assert r.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("target", ["txt", "xmp"])
def test_a_failed_write_is_one_line_naming_the_file_once(photo_factory, monkeypatch, target) -> None:
    from hashtagger.errors import OutputError
    from hashtagger.predict.writers.captions import write_caption
    from hashtagger.predict.writers.sidecar import write_sidecar

    photo = photo_factory("p.jpg")

    def refuse(self, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text" if target == "txt" else "write_bytes", refuse)
    with pytest.raises(OutputError) as e:
        (write_caption if target == "txt" else write_sidecar)(photo, ["cat"])
    written = photo.with_suffix(".txt") if target == "txt" else photo.with_name("p.jpg.xmp")
    assert str(e.value) == f"{written}: cannot write (Permission denied)"
    assert not written.exists() and [p.name for p in photo.parent.iterdir()] == ["p.jpg"]
