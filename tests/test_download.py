"""`hashtagger download harrison` against a local HTTP server: resume, verification, safety, re-runs.

Everything is made here (a tiny HARRISON tar, its torrent, a fixed zip) and served from
127.0.0.1; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hashtagger.cli import cli
from hashtagger.data import load_dataset
from hashtagger.download import aria2c as dl_aria2c
from hashtagger.download import harrison as dl
from hashtagger.download import http as dl_http
from hashtagger.download.extract import extract_tar, extract_zip
from hashtagger.download.torrent import bad_pieces, bdecode, bencode, parse_torrent, read_torrent
from hashtagger.errors import DownloadError

SHARED_TORRENT = Path(__file__).resolve().parents[2] / "shared/data/harrison-meta/HARRISON_dataset.torrent"
PIECE = 16 * 1024
QUERIES = ("sea", "family", "sun")
N_IMAGES = 9
FIXES = ("instagram_dataset/family/image_1.jpg", "instagram_dataset/sun/image_2.jpg")  # this site's two fixes


def _jpeg_bytes(seed: int) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _tar(members: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra:
            tf.addfile(info)
    return buf.getvalue()


def _torrent(payload: bytes, name: str = "HARRISON_full.tar") -> bytes:
    pieces = b"".join(hashlib.sha1(payload[i : i + PIECE]).digest() for i in range(0, len(payload), PIECE))
    info = {"length": len(payload), "name": name, "piece length": PIECE, "pieces": pieces}
    return bencode({"announce": "udp://127.0.0.1:1/announce", "info": info})


class Site:
    """The files a mirror serves, plus a log of requests and one-shot connection cuts."""

    def __init__(self) -> None:
        images = {
            f"instagram_dataset/{QUERIES[i % 3]}/image_{i}.jpg": _jpeg_bytes(i) for i in range(N_IMAGES)
        }
        self.images = images
        self.tags = {p: f"{QUERIES[i % 3]} love tag{i % 2} " for i, p in enumerate(images)}
        data_list = "".join(f"{p}\n" for p in images).encode()
        tag_list = "".join(f"{t}\n" for t in self.tags.values()).encode()
        vocab = "".join(f"{w:<22}{i}\n" for i, w in enumerate(["love", *QUERIES, "tag0", "tag1"])).encode()
        self.tar = _tar(
            {"HARRISON/data_list.txt": data_list, "HARRISON/tag_list.txt": tag_list}
            | {f"HARRISON/{p}": b for p, b in images.items()}
        )
        fixed = io.BytesIO()
        with zipfile.ZipFile(fixed, "w") as zf:
            zf.writestr("instagram_dataset/family/image_1.jpg", _jpeg_bytes(100))
            zf.writestr("instagram_dataset/sun/image_2.jpg", _jpeg_bytes(101)[:-3])  # a few bytes short
        self.files = {
            "data_list.txt": data_list,
            "tag_list.txt": tag_list,
            "vocab_index.txt": vocab,
            "HARRISON_dataset.torrent": _torrent(self.tar),
            "HARRISON_fixed.zip": fixed.getvalue(),
            "HARRISON_full.tar": self.tar,
        }
        self.log: list[tuple[str, str | None]] = []
        self.cut: dict[str, int] = {}
        self.unsized: dict[str, int] = {}  # sent without Content-Length, connection closed after n bytes

    def set_tar(self, payload: bytes, torrent_payload: bytes | None = None) -> None:
        """Serve payload as the tar, with a torrent describing torrent_payload (default: the same)."""
        self.files["HARRISON_full.tar"] = payload
        self.files["HARRISON_dataset.torrent"] = _torrent(
            payload if torrent_payload is None else torrent_payload
        )

    @property
    def infohash(self) -> str:
        return parse_torrent(self.files["HARRISON_dataset.torrent"]).infohash

    def requests_for(self, name: str) -> list[str | None]:
        return [rng for n, rng in self.log if n == name]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        site: Site = self.server.site  # type: ignore[attr-defined]
        name = self.path.lstrip("/")
        rng = self.headers.get("Range")
        site.log.append((name, rng))
        if name not in site.files:
            self.send_error(404, "Not Found")
            return
        body, start = site.files[name], 0
        if rng:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        cut = site.cut.pop(name, None)
        if name in site.unsized:
            cut = site.unsized[name]
        else:
            self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:] if cut is None else body[start : start + cut])
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site(monkeypatch):
    """A mirror on 127.0.0.1 whose torrent is accepted as the official one; no retry waits."""
    s = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.site = s  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    s.url = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setattr(dl, "HARRISON_INFOHASH", s.infohash)
    monkeypatch.setattr(dl, "KNOWN_SHA256", {})
    monkeypatch.setattr(dl, "FIXES", FIXES)
    monkeypatch.setattr(dl_http, "RETRY_WAIT_S", 0.0)
    monkeypatch.setattr(dl, "GITHUB_BASE", s.url)  # a slip to the real URLs would fail loudly
    monkeypatch.setattr(dl, "GITHUB_FIXED_URL", s.url + "HARRISON_fixed.zip")
    monkeypatch.setattr(dl.shutil, "which", lambda name: None)
    yield s
    server.shutdown()
    server.server_close()


def _run(*args: str):
    return CliRunner().invoke(cli, ["download", "harrison", *args])


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*") if p.name.endswith((".part", ".tmp")))


# ---- the whole flow through the CLI --------------------------------------------------------------


def test_mirror_download_yields_a_loadable_dataset_and_config(site, tmp_path):
    d = tmp_path / "D"
    r = _run("--dir", str(d), "--mirror", site.url, "--quiet")
    assert r.exit_code == 0, r.output
    assert f"harrison ready: {N_IMAGES} of {N_IMAGES} listed images in {d / 'HARRISON'}" in r.stdout
    assert "2 replacement images" not in r.stderr  # notes are silenced by --quiet
    ds = load_dataset(d)
    assert ds.format == "harrison" and len(ds.records) == N_IMAGES
    assert {
        r.path.relative_to(d / "HARRISON").as_posix(): " ".join(r.tags) + " " for r in ds.records
    } == site.tags
    assert all(r.path.is_file() for r in ds.records)
    assert ds.vocabulary()[:2] == ["love", "sea"]
    assert not (d / "HARRISON" / "hashtagger-split.json").exists()  # nothing of ours in the data
    assert ds.split_info.startswith("saved in ")  # the download pinned the split, in the user's cache
    config = (d / "harrison.yaml").read_text()
    assert f"path: {d}" in config and "out: runs/harrison" in config
    assert f"hashtagger train --config {d / 'harrison.yaml'}" in config
    assert (d / "HARRISON/instagram_dataset/family/image_1.jpg").read_bytes() == _jpeg_bytes(100)
    assert _leftovers(d) == []


def test_a_replacement_missing_only_its_last_bytes_is_not_called_truncated(site, tmp_path):
    """Like HARRISON's own sun/image_99.jpg: every row decodes, so it is used (issue: a complete photo is
    never refused); only a replacement whose rest is grey fill would be noted as unreadable."""
    r = _run("--dir", str(tmp_path), "--mirror", site.url)
    assert r.exit_code == 0, r.output
    assert (
        "applied 2 replacement images from HARRISON_fixed.zip\n" in r.stderr and "truncated" not in r.stderr
    )


def test_corrupted_piece_is_rejected_and_nothing_half_written(site, tmp_path):
    bad = bytearray(site.tar)
    bad[2 * PIECE + 100] ^= 0xFF
    site.set_tar(bytes(bad), torrent_payload=site.tar)
    d = tmp_path / "D"
    r = _run("--dir", str(d), "--mirror", site.url)
    assert r.exit_code == 1
    assert "failed verification: piece 2 of" in r.output and "the download was removed" in r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert not (d / "HARRISON_full.tar").exists() and _leftovers(d) == []
    assert not (d / "HARRISON" / "instagram_dataset").exists() and not (d / "harrison.yaml").exists()


def test_interrupted_download_resumes_with_a_range_request(site, tmp_path, monkeypatch):
    monkeypatch.setattr(dl_http, "RETRIES", 0)
    site.cut["HARRISON_full.tar"] = 3 * PIECE + 7
    d = tmp_path / "D"
    r = _run("--dir", str(d), "--mirror", site.url)
    assert r.exit_code == 1 and "download interrupted" in r.output and "run again to resume" in r.output
    assert (d / "HARRISON_full.tar.part").stat().st_size == 3 * PIECE + 7
    r = _run("--dir", str(d), "--mirror", site.url)
    assert r.exit_code == 0, r.output
    assert site.requests_for("HARRISON_full.tar") == [None, f"bytes={3 * PIECE + 7}-"]
    assert site.requests_for("data_list.txt") == [None]  # complete files are not fetched again
    assert len(load_dataset(d).records) == N_IMAGES


def test_dropped_connection_is_retried_within_one_run(site, tmp_path):
    site.cut["HARRISON_full.tar"] = 1000
    r = _run("--dir", str(tmp_path), "--mirror", site.url, "--quiet")
    assert r.exit_code == 0, r.output
    assert site.requests_for("HARRISON_full.tar") == [None, "bytes=1000-"]


def test_tar_with_a_dotdot_member_is_refused_whole(site, tmp_path, monkeypatch):
    evil = _tar(
        {"HARRISON/instagram_dataset/sea/ok.jpg": b"x" * 40_000, "HARRISON/../../escaped.txt": b"gotcha"}
    )
    site.set_tar(evil)  # verified: the torrent vouches for it, so only extraction can refuse it
    monkeypatch.setattr(dl, "HARRISON_INFOHASH", site.infohash)
    d = tmp_path / "D"
    r = _run("--dir", str(d), "--mirror", site.url)
    assert r.exit_code == 1 and "refused" in r.output and "'..'" in r.output
    assert not (tmp_path / "escaped.txt").exists() and not (d / "HARRISON" / "instagram_dataset").exists()


def test_missing_file_on_the_mirror_is_a_clear_error(site, tmp_path):
    del site.files["HARRISON_fixed.zip"]
    d = tmp_path / "D"
    r = _run("--dir", str(d), "--mirror", site.url)
    assert r.exit_code == 1
    assert f"{site.url}HARRISON_fixed.zip: HTTP 404" in r.output and "Traceback" not in r.output
    assert site.requests_for("HARRISON_full.tar") == [] and _leftovers(d) == []


def test_rerun_is_quick_and_fetches_nothing(site, tmp_path):
    d = tmp_path / "D"
    assert _run("--dir", str(d), "--mirror", site.url).exit_code == 0
    (d / "harrison.yaml").write_text("# my edits\n")
    site.log.clear()
    r = _run("--dir", str(d), "--mirror", site.url)
    assert r.exit_code == 0, r.output
    assert site.log == [] and "nothing to fetch" in r.stderr
    assert (d / "harrison.yaml").read_text() == "# my edits\n"  # the user's config is left alone
    (d / "HARRISON_full.tar").unlink()  # reclaiming space does not make a re-run fetch again
    (d / "HARRISON/instagram_dataset/sea/image_0.jpg").unlink()
    r = _run("--dir", str(d), "--mirror", site.url)
    assert r.exit_code == 0 and site.requests_for("HARRISON_full.tar") == [None]  # one image lost: re-fetch


def test_wrong_torrent_is_refused_and_removed(site, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "HARRISON_INFOHASH", "0" * 40)
    r = _run("--dir", str(tmp_path), "--mirror", site.url)
    assert r.exit_code == 1 and "is not the official HARRISON torrent's" in r.output
    assert not (tmp_path / "HARRISON_dataset.torrent").exists()


# ---- other image sources -------------------------------------------------------------------------


def test_archive_is_verified_in_place_and_never_modified(site, tmp_path):
    archive = tmp_path / "mine.tar"
    archive.write_bytes(site.tar)
    d = tmp_path / "D"
    r = _run("--dir", str(d), "--archive", str(archive), "--quiet")  # metadata from "GitHub"
    assert r.exit_code == 0, r.output
    assert site.requests_for("HARRISON_full.tar") == [] and not (d / "HARRISON_full.tar").exists()
    assert len(load_dataset(d).records) == N_IMAGES
    corrupt = tmp_path / "corrupt.tar"
    corrupt.write_bytes(site.tar[:-PIECE] + bytes(PIECE))
    r = _run("--dir", str(tmp_path / "E"), "--archive", str(corrupt))
    assert (
        r.exit_code == 1 and "does not match the official torrent" in r.output and "left as it is" in r.output
    )
    assert corrupt.read_bytes() == site.tar[:-PIECE] + bytes(PIECE)


def test_aria2c_is_run_on_the_torrent_when_installed(site, tmp_path, monkeypatch):
    calls = []

    class FakePopen:
        def __init__(self, cmd, **kwargs):
            calls.append(cmd)
            out = Path(cmd[1].removeprefix("--dir=")) / cmd[2].removeprefix("--index-out=1=")
            out.write_bytes(site.tar)
            self.returncode = 0

        def poll(self):
            return self.returncode

    monkeypatch.setattr(dl.shutil, "which", lambda name: "/opt/bin/aria2c" if name == "aria2c" else None)
    monkeypatch.setattr(dl_aria2c.subprocess, "Popen", FakePopen)
    d = tmp_path / "D"
    r = _run("--dir", str(d), "--quiet")
    assert r.exit_code == 0, r.output
    assert calls == [
        dl_aria2c.aria2c_command(
            "/opt/bin/aria2c", d / dl.TORRENT, d, "HARRISON_full.tar.part", d / ".aria2c.log"
        )
    ]
    assert calls[0][0] == "/opt/bin/aria2c" and calls[0][-1] == str(d / "HARRISON_dataset.torrent")
    assert "--seed-time=0" in calls[0] and (d / "HARRISON_full.tar").is_file()


def test_without_any_image_source_the_three_ways_are_named(site, tmp_path):
    d = tmp_path / "D"
    r = _run("--dir", str(d))
    assert r.exit_code == 1
    assert "aria2c" in r.output and "--archive PATH" in r.output and "--mirror URL" in r.output
    assert not d.exists() and site.log == []


def test_free_space_is_checked_before_fetching_the_tar(site, tmp_path, monkeypatch):
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda path: type("U", (), {"free": 1000})())
    r = _run("--dir", str(tmp_path), "--mirror", site.url)
    assert r.exit_code == 1 and "not enough free space" in r.output
    assert site.requests_for("HARRISON_full.tar") == []


def test_bad_mirror_url_is_an_input_error(tmp_path):
    r = _run("--dir", str(tmp_path), "--mirror", "ftp://example.org/")
    assert r.exit_code == 1 and "http:// or https://" in r.output


# ---- torrent and extraction units ----------------------------------------------------------------


def test_bencode_round_trip_and_bad_torrents():
    value = {"a": [1, -2, b"x"], "info": {"name": "f", "length": 3}}
    assert bdecode(bencode(value)) == {b"a": [1, -2, b"x"], b"info": {b"name": b"f", b"length": 3}}
    for junk in (b"", b"d4:info", b"i12", b"l1:ae trailing", b"x"):
        with pytest.raises(DownloadError, match="not a valid torrent"):
            parse_torrent(junk)


def test_bad_pieces_finds_the_corrupt_piece(tmp_path):
    payload = bytes(range(256)) * 300
    torrent = parse_torrent(_torrent(payload))
    f = tmp_path / "f"
    f.write_bytes(payload[:PIECE] + b"\xff" + payload[PIECE + 1 :])
    assert torrent.piece_count == 5 and bad_pieces(f, torrent) == [1]
    f.write_bytes(payload[:-1])
    with pytest.raises(DownloadError, match="the torrent says"):
        bad_pieces(f, torrent)


@pytest.mark.skipif(not SHARED_TORRENT.is_file(), reason="../shared/data/harrison-meta not present")
def test_the_real_harrison_torrent():
    t = read_torrent(SHARED_TORRENT)
    assert (t.name, t.length, t.piece_length, t.piece_count) == (
        "HARRISON_full.tar",
        6_067_998_720,
        1 << 23,
        724,
    )
    assert t.infohash == dl.HARRISON_INFOHASH == "62457023e0de1009d7bf49541d4cf09c68f66339"


@pytest.mark.parametrize(
    "info, reason",
    [
        (tarfile.TarInfo("/etc/evil"), "absolute path"),
        (tarfile.TarInfo("a/../../evil"), "'..'"),
        (lambda: _link("a/link", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
        (lambda: _link("a/hard", tarfile.LNKTYPE, "a/file"), "is a link"),
        (lambda: _link("a/tty", tarfile.CHRTYPE, ""), "device or special file"),
    ],
)
def test_unsafe_tar_members_are_refused(tmp_path, info, reason):
    member = info() if callable(info) else info
    archive = tmp_path / "x.tar"
    archive.write_bytes(_tar({"a/file": b"data"}, [member]))
    with pytest.raises(DownloadError, match=reason):
        extract_tar(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "a" / "file").exists()  # checked before anything is written


def _link(name: str, kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_extraction_resumes_and_zip_replaces_only_changed_files(tmp_path):
    archive = tmp_path / "x.tgz"
    with tarfile.open(archive, "w:gz") as tf:  # compression is detected
        for name in ("d/a.txt", "d/b.txt"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tf.addfile(info, io.BytesIO(b"abc"))
    out = tmp_path / "out"
    assert extract_tar(archive, out) == 2
    (out / "d/.a.txt.0badc0de.tmp").write_bytes(b"a")  # what a killed extraction leaves
    assert extract_tar(archive, out) == 0 and _leftovers(out) == []
    z = tmp_path / "f.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("d/a.txt", "abc")
        zf.writestr("d/b.txt", "new")
    assert extract_zip(z, out) == ["d/b.txt"] and (out / "d/b.txt").read_text() == "new"


def test_a_bad_metadata_file_fetched_now_is_removed(site, tmp_path):
    site.files["HARRISON_fixed.zip"] = b"<html>rate limited</html>"
    r = _run("--dir", str(tmp_path), "--mirror", site.url)
    assert r.exit_code == 1 and "HARRISON_fixed.zip: not a zip archive" in r.output
    assert not (tmp_path / "HARRISON_fixed.zip").exists()
    assert not (tmp_path / "HARRISON" / "data_list.txt").exists()


# ---- hardening: fixes zip, half-written lists, an unreachable mirror ------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


BOMB = b"\0" * (40 << 20)  # 40 MB of zeros: a ~40 kB member


def test_a_fixes_zip_that_is_not_the_published_one_is_refused(site, tmp_path, monkeypatch):
    published = site.files["HARRISON_fixed.zip"]
    monkeypatch.setattr(dl, "KNOWN_SHA256", {"HARRISON_fixed.zip": hashlib.sha256(published).hexdigest()})
    d = tmp_path / "D"
    assert _run("--dir", str(d), "--mirror", site.url, "--quiet").exit_code == 0
    verified = d / "HARRISON" / "instagram_dataset/sea/image_0.jpg"
    before = verified.read_bytes()
    (d / "HARRISON_fixed.zip").unlink()

    # A mirror serves a zip bomb under the fixes' name: refused before it takes the name, and removed.
    bomb = _zip({"instagram_dataset/sea/image_0.jpg": BOMB})
    assert len(bomb) < 100_000
    site.files["HARRISON_fixed.zip"] = bomb
    r = _run("--dir", str(d), "--mirror", site.url)
    assert r.exit_code == 1
    assert (
        "HARRISON_fixed.zip: sha256 " in r.output and "is not the published HARRISON_fixed.zip's" in r.output
    )
    assert "refused and removed" in r.output and "--fixes FILE" in r.output
    assert not (d / "HARRISON_fixed.zip").exists() and _leftovers(d) == []
    assert verified.read_bytes() == before

    # Passed explicitly, it still may only replace the two known fixes, within a size limit.
    own = tmp_path / "own.zip"
    own.write_bytes(bomb)
    r = _run("--dir", str(d), "--mirror", site.url, "--fixes", str(own))
    assert (
        r.exit_code == 1 and "'instagram_dataset/sea/image_0.jpg' is not one of the files it may" in r.output
    )
    own.write_bytes(_zip({FIXES[0]: BOMB}))
    r = _run("--dir", str(d), "--mirror", site.url, "--fixes", str(own))
    assert r.exit_code == 1 and "unpack to more than 16,777,216 bytes" in r.output
    assert verified.read_bytes() == before and not (d / "HARRISON" / FIXES[0]).stat().st_size > 100_000
    fixed = _jpeg_bytes(7)
    own.write_bytes(_zip({FIXES[0]: fixed}))  # a re-packed zip the user trusts
    r = _run("--dir", str(d), "--mirror", site.url, "--fixes", str(own))
    assert r.exit_code == 0, r.output
    assert (d / "HARRISON" / FIXES[0]).read_bytes() == fixed and verified.read_bytes() == before

    # One already in the folder that is not the published one is refused too (an older run took it).
    (d / "HARRISON_fixed.zip").write_bytes(bomb)
    r = _run("--dir", str(d), "--mirror", site.url)
    assert r.exit_code == 1 and "delete it to fetch it again" in r.output


def test_zip_extraction_checks_names_and_declared_sizes_before_writing(tmp_path):
    z = tmp_path / "f.zip"
    z.write_bytes(_zip({"a/ok.txt": b"fine", "a/big.bin": BOMB}))
    with pytest.raises(DownloadError, match="unpack to more than 1,000,000 bytes"):
        extract_zip(z, tmp_path / "out", max_bytes=1_000_000)
    with pytest.raises(DownloadError, match="'a/big.bin' is not one of the files it may replace"):
        extract_zip(z, tmp_path / "out", only={"a/ok.txt"})
    assert not (tmp_path / "out" / "a" / "ok.txt").exists()  # refused whole
    assert extract_zip(z, tmp_path / "out") == ["a/ok.txt", "a/big.bin"]
    assert (tmp_path / "out" / "a" / "big.bin").stat().st_size == len(BOMB)


@pytest.mark.parametrize(
    ("name", "cut", "message"),
    [
        ("vocab_index.txt", 0.5, "incomplete (it ends mid-line"),
        (
            "vocab_index.txt",
            "line",
            "incomplete: tag_list.txt uses 2 tags it does not list (e.g. tag0, tag1)",
        ),
        ("vocab_index.txt", "rank", "incomplete (its ranks are not 0 to 5)"),
        ("data_list.txt", 0.5, "incomplete (it ends mid-line"),
    ],
)
def test_a_list_cut_short_without_a_content_length_never_takes_its_name(site, tmp_path, name, cut, message):
    body = site.files[name]
    if cut == "line":  # at a line end: looks whole
        n = body.index(b"tag0")
    elif cut == "rank":  # inside the last number: '10' cut to '1' repeats a rank
        site.files[name] = body = body.replace(b"tag1                  5", b"tag1                  15")
        n = len(body) - 2
        body = body[:n] + b"\n"
        site.files[name] = body
        n = len(body)
    else:  # half-way, inside a line
        n = body.index(b"\n", int(len(body) * cut)) - 3
    site.unsized[name] = n
    d = tmp_path / "D"
    r = _run("--dir", str(d), "--mirror", site.url)
    assert r.exit_code == 1 and message in r.output, r.output
    assert not (d / "HARRISON" / name).exists() and _leftovers(d) == []


def test_a_list_that_differs_from_the_published_one_but_is_whole_is_kept_with_a_warning(
    site, tmp_path, monkeypatch
):
    monkeypatch.setattr(dl, "KNOWN_SHA256", {"vocab_index.txt": "0" * 64})
    r = _run("--dir", str(tmp_path / "D"), "--mirror", site.url)
    assert r.exit_code == 0, r.output
    assert "vocab_index.txt: differs from the copy published in 2018" in r.stderr


def test_an_unresolvable_mirror_is_one_line_at_once(tmp_path, monkeypatch):
    import socket

    calls = []

    def no_dns(*args: object, **kw: object) -> object:
        calls.append(args[0])
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(dl_http, "RETRY_WAIT_S", 60.0)  # a retry would stall the test for minutes
    monkeypatch.setattr(dl.shutil, "which", lambda name: None)
    r = _run("--dir", str(tmp_path / "D"), "--mirror", "http://my.mirror.example/harrison/")
    assert r.exit_code == 1 and calls == ["my.mirror.example"]
    assert r.output.strip() == (
        "Error: cannot resolve the host my.mirror.example (Name or service not known): "
        "check the address and the network"
    )
    assert ".part" not in r.output and _leftovers(tmp_path) == []


def test_a_mirror_that_refuses_connections_is_one_line_at_once(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(dl_http, "RETRY_WAIT_S", 60.0)
    monkeypatch.setattr(dl.shutil, "which", lambda name: None)
    r = _run("--dir", str(tmp_path / "D"), "--mirror", f"http://127.0.0.1:{port}/")
    assert r.exit_code == 1
    assert (
        r.output.strip()
        == f"Error: cannot reach 127.0.0.1:{port} (Connection refused): check the address and the network"
    )
