"""--write embed never loses what a photo holds: XMP exiv2 cannot parse or does not read is refused
unchanged, any file name works, links are written through (hard links refused), the owner is kept and
the temp files a killed run left are cleaned (issue "nothing the user owns is ever lost")."""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from pathlib import Path

import pytest
from test_writers import exiftool, exiv2_values, fixed_model, make_jpeg, run  # noqa: F401 - fixed_model: autouse

pytest.importorskip("exiv2", reason="python-exiv2 not installed (pip install 'hashtagger[embed]')")

PACKET = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
{doctype}<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
<dc:subject><rdf:Bag><rdf:li>mykeyword</rdf:li></rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""
STANDARD = b"http://ns.adobe.com/xap/1.0/\x00"


def with_app1(path: Path, *segments: bytes) -> Path:
    """The JPEG at `path` with these APP1 segments (header + payload) right after its start marker."""
    data = path.read_bytes()
    app1 = b"".join(b"\xff\xe1" + struct.pack(">H", len(s) + 2) + s for s in segments)
    path.write_bytes(data[:2] + app1 + data[2:])
    return path


def xmp(doctype: str = "", title: str = "Trip") -> bytes:
    return PACKET.format(doctype=doctype, title=title).encode()


CASES = {
    "doctype.jpg": [STANDARD + xmp("<!DOCTYPE x:xmpmeta>\n")],  # exiv2 reads it but cannot parse it
    "ampersand.jpg": [STANDARD + xmp(title="Fish & Chips")],  # an unescaped &: exiftool reads it
    "flickr.jpg": [b"XMP\x00://ns.adobe.com/xap/1.0/\x00" + xmp()],  # a header exiv2 does not know
    "twice.jpg": [STANDARD + xmp(), STANDARD + xmp(title="Other")],
}


def test_xmp_that_exiv2_would_drop_is_refused_and_the_photo_left_byte_identical(tmp_path: Path) -> None:
    photos = {name: with_app1(make_jpeg(tmp_path / name), *segs) for name, segs in CASES.items()}
    make_jpeg(tmp_path / "ok.jpg")
    before = {p: p.read_bytes() for p in photos.values()}
    r = run(str(tmp_path), "--quiet", "--write", "embed", "-f", "jsonl")
    assert r.exit_code == 1
    recs = {Path(json.loads(x)["path"]).name: json.loads(x) for x in r.stdout.splitlines()}
    for name in CASES:
        assert "not changed (--write xmp keeps keywords in a sidecar instead)" in recs[name]["error"], name
    assert {p: p.read_bytes() for p in photos.values()} == before
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4 and "XMP Toolkit" not in r.stderr  # one line each, no raw exiv2 lines
    assert "hashtags" in recs["ok.jpg"] and "embed: 1 photo written" in r.stderr
    if shutil.which("exiftool"):
        tags = exiftool(photos["flickr.jpg"], "-XMP-dc:Title", "-XMP-xmp:Rating")
        assert tags["XMP-dc:Title"] == "Trip" and tags["XMP-xmp:Rating"] == 5


def test_a_photo_whose_xmp_exiv2_parses_keeps_it(tmp_path: Path) -> None:
    p = with_app1(make_jpeg(tmp_path / "good.jpg"), STANDARD + xmp())
    r = run(str(p), "--quiet", "--write", "embed")
    assert r.exit_code == 0, r.output
    assert "mykeyword" in exiv2_values(p, "Xmp.dc.subject")[1]
    assert exiv2_values(p, "Xmp.xmp.Rating")[1] == ["5"]


def test_any_file_name_and_links(tmp_path: Path) -> None:
    """A name that is not UTF-8 is embedded like any other; a symlink is written through to its target
    and stays a link; a photo with hard links is refused, both names untouched; the batch goes on."""
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.jpg"))
    make_jpeg(odd)
    real = make_jpeg(tmp_path / "real" / "photo.jpg")
    link = tmp_path / "link.jpg"
    link.symlink_to(real)
    hard = make_jpeg(tmp_path / "hard.jpg")
    os.link(hard, tmp_path / "hard-too.jpg")
    hard_bytes = hard.read_bytes()
    r = run(str(odd), str(link), str(hard), "--quiet", "--write", "embed", "-f", "jsonl")
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.exit_code == 1 and [("error" in x) for x in recs] == [False, False, True]
    assert "has 2 hard links" in recs[2]["error"] and hard.read_bytes() == hard_bytes
    assert "beach" in exiv2_values(odd, "Xmp.dc.subject")[1]
    assert link.is_symlink() and "beach" in exiv2_values(real, "Xmp.dc.subject")[1]


def test_stale_temp_files_of_a_killed_run_are_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    p = make_jpeg(tmp_path / "p007.jpg")
    stale, live = tmp_path / ".p007.jpg.40abc137.tmp", tmp_path / ".p007.jpg.9f00aa11.tmp"
    for t in (stale, live):
        t.write_bytes(p.read_bytes())
    old = time.time() - 3600
    os.utime(stale, (old, old))
    other = tmp_path / ".notes.txt.40abc137.tmp"  # not this photo's: never ours to remove here
    other.write_text("x")
    os.utime(other, (old, old))
    assert run(str(p), "--quiet", "--write", "embed").exit_code == 0
    assert not stale.exists() and live.exists() and other.exists()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="changing a file's owner needs root"
)
def test_embedding_keeps_the_photos_owner(tmp_path: Path) -> None:
    p = make_jpeg(tmp_path / "p.jpg")
    os.chown(p, 1234, 2345)
    assert run(str(p), "--quiet", "--write", "embed").exit_code == 0
    st = p.stat()
    assert (st.st_uid, st.st_gid) == (1234, 2345)


def test_a_linked_sidecar_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    p = make_jpeg(tmp_path / "p.jpg")
    shared = tmp_path / "library" / "p.xmp"
    assert run(str(p), "--quiet", "--write", "xmp", "-k", "1").exit_code == 0
    shared.parent.mkdir()
    (tmp_path / "p.jpg.xmp").rename(shared)
    (tmp_path / "p.jpg.xmp").symlink_to(shared)
    assert run(str(p), "--quiet", "--write", "xmp", "-k", "2").exit_code == 0
    assert (tmp_path / "p.jpg.xmp").is_symlink() and "hot dog" in shared.read_text()


def test_webp_gets_its_keywords_in_xmp(tmp_path: Path) -> None:
    """exiv2 writes no IPTC into WebP: the keywords go to XMP only (the check used to refuse every WebP)."""
    from PIL import Image

    p = tmp_path / "a.webp"
    Image.new("RGB", (8, 8), "red").save(p)
    r = run(str(p), "--quiet", "--write", "embed", "-k", "2")
    assert r.exit_code == 0, r.output
    assert exiv2_values(p, "Xmp.dc.subject")[1] == ["beach", "hot dog"]
