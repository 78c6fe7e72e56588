"""`predict --write` under attack (issue 22): FIFOs, long names, shared stems, --replace and bad tag text.

conftest's fake_model tags every photo red/green/blue; what matters is what gets written where. Tests
that could hang on a FIFO run the command in a thread with a time limit and unblock the FIFO on expiry,
so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from conftest import run_predict_cli as run

from hashtagger.errors import InputError
from hashtagger.predict.writers.captions import write_caption
from hashtagger.predict.writers.merge import Keywords, merge_keywords
from hashtagger.predict.writers.sidecar import write_sidecar

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def _unblock(fifo: Path) -> None:
    """Open the FIFO's other ends so a reader or writer stuck on it returns."""
    for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
        try:
            os.close(os.open(fifo, flags))
        except OSError:
            pass


def run_guarded(fifos: list[Path], *args: str, limit: float = 20):  # noqa: ANN201
    """run(*args), failing the test (not hanging it) when it has not finished within `limit` seconds."""
    box: dict[str, object] = {}
    worker = threading.Thread(target=lambda: box.setdefault("r", run(*args)), daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        for _ in range(50):
            for f in fifos:
                _unblock(f)
            worker.join(0.1)
            if not worker.is_alive():
                break
        pytest.fail(f"predict {' '.join(args)} hung on a FIFO for {limit} s")
    return box["r"]


def records(r) -> dict[str, dict]:  # noqa: ANN001
    return {Path(json.loads(x)["path"]).name: json.loads(x) for x in r.stdout.splitlines()}


def errors(r) -> list[str]:  # noqa: ANN001
    return [x for x in r.stderr.splitlines() if x.startswith("error:")]


# ---- 4: a FIFO never hangs a batch ----


@needs_fifo
@pytest.mark.parametrize(("target", "name"), [("xmp", "a.jpg.xmp"), ("txt", "a.txt")])
def test_fifo_sidecar_or_caption_fails_that_photo_alone(
    photo_factory, fake_model, tmp_path: Path, target: str, name: str
) -> None:
    photo_factory("a.jpg")
    photo_factory("b.jpg", seed=1)
    fifo = tmp_path / name
    os.mkfifo(fifo)
    r = run_guarded([fifo], str(tmp_path), "--write", target, "-f", "jsonl")
    assert r.exit_code == 1, r.output
    recs = records(r)
    assert f"{fifo}: cannot read" in recs["a.jpg"]["error"] and "FIFO" in recs["a.jpg"]["error"]
    assert "hashtags" in recs["b.jpg"] and len(errors(r)) == 1 and "Traceback" not in r.output
    assert (tmp_path / ("b.jpg.xmp" if target == "xmp" else "b.txt")).is_file()
    assert fifo.is_fifo()


@needs_fifo
def test_fifo_photo_and_sidecar_with_skip_tagged_do_not_hang(
    photo_factory, fake_model, tmp_path: Path
) -> None:
    photo_factory("b.jpg", seed=1)
    fifos = [tmp_path / "a.jpg", tmp_path / "b.jpg.xmp", tmp_path / "b.txt"]
    for f in fifos:
        os.mkfifo(f)
    r = run_guarded(fifos, str(tmp_path), "--write", "txt", "--skip-tagged", "-f", "jsonl")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "a.jpg" in records(r)["a.jpg"]["error"] and "b.txt" in records(r)["b.jpg"]["error"]


@needs_fifo
@pytest.mark.parametrize("option", ["--exclude", "--always", "--rename"])
def test_tag_list_from_a_fifo_is_a_usage_error(
    photo_factory, fake_model, tmp_path: Path, option: str
) -> None:
    fifo = tmp_path / "list"
    os.mkfifo(fifo)
    r = run_guarded([fifo], str(photo_factory("a.jpg")), option, f"@{fifo}")
    assert r.exit_code == 2 and f"{option} @{fifo}: cannot read (not a regular file (a FIFO))" in r.output
    assert "Traceback" not in r.output


def test_tag_list_from_a_device_or_a_huge_file_is_refused(photo_factory, fake_model, tmp_path: Path) -> None:
    from hashtagger.files import read_regular

    big = tmp_path / "big.txt"
    big.write_text("tag\n" * 300_000)  # 1.2 MB, over the 1 MB a tag list may have
    p = str(photo_factory("a.jpg"))
    r = run(p, "--always", f"@{big}")
    assert r.exit_code == 2 and f"--always @{big}: cannot read (larger than 1,048,576 bytes)" in r.output
    if os.path.exists("/dev/zero"):  # a device is refused before any read (/dev/null: safe if that broke)
        r = run(p, "--exclude", "@/dev/null")
        assert (
            r.exit_code == 2
            and "--exclude @/dev/null: cannot read (not a regular file (a device))" in r.output
        )
        with pytest.raises(OSError, match="a device"):
            read_regular("/dev/zero", 10)
    assert not fake_model.loaded


# ---- 5: names too long for the file system ----


@pytest.mark.parametrize(("target", "style"), [("xmp", "full"), ("xmp", "base"), ("txt", "full")])
def test_long_photo_names_fail_alone_and_temp_names_never_pass_255_bytes(
    photo_factory, fake_model, tmp_path: Path, target: str, style: str
) -> None:
    too_long = photo_factory("t" * 248 + ".jpg")  # 252 bytes: its photo.jpg.xmp passes 255
    fits = photo_factory("f" * 243 + ".jpg", seed=1)  # the file fits, its `.name.XXXXXXXX.tmp` would not
    photo_factory("z.jpg", seed=2)
    r = run(str(tmp_path), "--write", target, "--sidecar-name", style, "-f", "jsonl")
    written = {"xmp": {"full": ".jpg.xmp", "base": ".xmp"}, "txt": {"full": ".txt"}}[target][style]
    recs = records(r)
    assert "Traceback" not in r.output and "hashtags" in recs["z.jpg"], r.output
    assert (tmp_path / ("z" + written)).is_file() and (tmp_path / (fits.stem + written)).is_file()
    if style == "full" and target == "xmp":
        assert r.exit_code == 1 and len(errors(r)) == 1
        assert "file name too long: 256 bytes, the file system allows 255" in recs[too_long.name]["error"]
    else:
        assert r.exit_code == 0 and (tmp_path / (too_long.stem + written)).is_file()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


# ---- 6: --replace never removes the user's keywords ----


SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/">
   <dc:subject><rdf:Bag>
    <rdf:li>sunset</rdf:li><rdf:li>Sunset</rdf:li><rdf:li>My Trip</rdf:li>
   </rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>hashtagger|sunset</rdf:li></rdf:Bag></lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def test_replace_keeps_a_user_keyword_that_differs_only_in_case(
    photo_factory, fake_model, tmp_path: Path
) -> None:
    from hashtagger.predict.writers.xmp import XmpPacket

    p = photo_factory("a.jpg")
    side = tmp_path / "a.jpg.xmp"
    side.write_text(SIDECAR)
    r = run(str(p), "--write", "xmp", "--replace", "-k", "1", "-f", "jsonl")
    assert r.exit_code == 0, r.output
    tag = json.loads(r.stdout)["hashtags"][0]["tag"]
    assert XmpPacket.parse(side.read_bytes(), str(side)).keywords() == Keywords(
        subject=["Sunset", "My Trip", tag],
        hierarchical=[f"hashtagger|{tag}"],
        tags_list=[f"hashtagger/{tag}"],
    )
    merged = merge_keywords(
        Keywords(subject=["sunset", "Sunset"], iptc=["Sunset", "sunset"], tags_list=["hashtagger/sunset"]),
        [],
        replace=True,
    )
    assert merged.keywords == Keywords(subject=["Sunset"], iptc=["Sunset"]) and merged.removed == ["sunset"]


# ---- 7: photos that share a stem never share one file ----


@pytest.mark.parametrize(
    ("args", "shared"),
    [(["--write", "txt"], "a.txt"), (["--write", "xmp", "--sidecar-name", "base"], "a.xmp")],
)
def test_photos_sharing_a_stem_never_mix_their_tags(
    fake_model, tmp_path: Path, args: list[str], shared: str
) -> None:
    from PIL import Image

    Image.new("RGB", (16, 16), (250, 0, 0)).save(tmp_path / "a.jpg")  # red
    Image.new("RGB", (16, 16), (0, 0, 250)).save(tmp_path / "a.png")  # blue
    r = run(str(tmp_path), *args, "-k", "1", "-f", "jsonl")
    assert r.exit_code == 1, r.output
    recs = records(r)
    assert recs["a.jpg"]["hashtags"][0]["tag"] == "red"
    err = recs["a.png"]["error"]
    assert str(tmp_path / shared) in err and "a.jpg" in err and "a.png" in err and len(errors(r)) == 1
    target = args[1]
    assert [x for x in r.stderr.splitlines() if x.startswith(f"{target}: ")][0].startswith(f"{target}: 1 ")
    if target == "txt":
        assert (tmp_path / shared).read_text() == "red\n"
    else:
        assert "blue" not in (tmp_path / shared).read_text() and "red" in (tmp_path / shared).read_text()


# ---- 8: tag text that no photo library can hold is a usage error ----


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--always", "a\x07b"], "control character"),
        (["--always", "caf\udce9"], "not valid UTF-8"),
        (["--always", ""], "empty tag"),
        (["--always", "x, y", "--write", "txt"], "caption separator"),
        (["--rename", "red=x, y", "--write", "txt"], "caption separator"),
        (["--rename", "dog"], "expected OLD=NEW"),
        (["--rename", "red=\x1b[31m"], "control character"),
        (["--caption-ext", ".xmp"], "photos or sidecars"),
        (["--caption-ext", "JPG"], "photos or sidecars"),
        (["--caption-ext", ""], "plain extension"),
        (["--caption-ext", "/x"], "plain extension"),
        (["--caption-ext", "../evil"], "plain extension"),
    ],
)
def test_bad_tag_text_and_caption_ext_are_usage_errors(
    photo_factory, fake_model, tmp_path: Path, args: list[str], says: str
) -> None:
    p = photo_factory("a.jpg")
    r = run(str(p), "--write", "xmp", *args)
    assert r.exit_code == 2 and says in r.output, r.output
    assert "Traceback" not in r.output and len([x for x in r.output.splitlines() if "Error" in x]) == 1
    assert os.listdir(tmp_path) == ["a.jpg"] and not fake_model.loaded


def test_a_comma_in_always_is_fine_without_caption_files(photo_factory, fake_model) -> None:
    r = run(str(photo_factory("a.jpg")), "--always", "x, y", "-f", "jsonl")
    assert r.exit_code == 0 and json.loads(r.stdout)["hashtags"][0]["tag"] == "x, y"


def test_writers_refuse_text_xml_cannot_hold_and_captions_never_grow(photo_factory) -> None:
    p = photo_factory("a.jpg")
    with pytest.raises(InputError, match="control character"):
        write_sidecar(p, ["ok", "bell\x07"])
    assert not p.with_name("a.jpg.xmp").exists()
    write_caption(p, ["x, y", "z"])  # a model tag holding the separator is written as what it reads back as
    before = p.with_suffix(".txt").read_text()
    assert before == "x, y, z\n" and write_caption(p, ["x, y", "z"])[1] == []
    assert p.with_suffix(".txt").read_text() == before
