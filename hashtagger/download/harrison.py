"""`hashtagger download`: fetch a public dataset, verify it, extract it safely, write a config.

HARRISON's images exist only as one 6 GB tar behind a torrent, so whatever serves the tar
(a BitTorrent client, a mirror, a copy the user already has) it is checked piece by piece
against the official torrent's SHA-1 hashes before anything is extracted (see tar.py). HTTP downloads
resume with Range requests into a `.part` file that is renamed only once complete (and,
for the tar, verified). A state file in the folder makes re-runs skip what is done.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hashtagger.data import load_dataset
from hashtagger.download.extract import extract_tar, extract_zip
from hashtagger.download.http import fetch
from hashtagger.download.state import count_present, decodes, read_state, sha256_file, write_state
from hashtagger.download.tar import check_space, no_image_source, verified_tar
from hashtagger.download.torrent import Progress, TorrentInfo, read_torrent
from hashtagger.errors import DownloadError, HashtaggerError, InputError
from hashtagger.files import atomic_write

GITHUB_BASE = "https://raw.githubusercontent.com/minstone/HARRISON-Dataset/master/HARRISON/"
GITHUB_FIXED_URL = "https://raw.githubusercontent.com/minstone/HARRISON-Dataset/master/HARRISON_fixed.zip"
HARRISON_INFOHASH = "62457023e0de1009d7bf49541d4cf09c68f66339"  # the official torrent's identity
LISTS = ("data_list.txt", "tag_list.txt", "vocab_index.txt")
TORRENT = "HARRISON_dataset.torrent"
FIXED_ZIP = "HARRISON_fixed.zip"
TAR = "HARRISON_full.tar"  # the torrent's one file
SUBDIR = "HARRISON"  # the tar's top folder; the lists are stored there too
CONFIG_FILE = "harrison.yaml"
# The two photos HARRISON_fixed.zip replaces: the only files of the dataset it may overwrite.
FIXES = ("instagram_dataset/family/image_2411.jpg", "instagram_dataset/sun/image_99.jpg")
FIXES_MAX_BYTES = 16 << 20  # the published pair unpacks to 115 kB
# SHA-256 of the files as published in 2018. A file is checked before it takes its final name: a
# list that differs must still parse completely (and is reported); a fixes zip that differs is
# refused unless the user passes it with --fixes.
KNOWN_SHA256 = {
    "data_list.txt": "6212396fac9ebe2511cab9ce60e6db36b58c2dae4c0325b12c91286eab6bb0a4",
    "tag_list.txt": "b272d4f89d7f01624957dd1fef75dfa3115823f247ec0ee933335ada67984ff3",
    "vocab_index.txt": "f49b0d0a00d2a79499bfe263e0bb12308c8d8ea090c60227653f3ee2d87071fe",
    "HARRISON_fixed.zip": "17a0de71c847fa01a800353e2c73a4fc12ae046b8548ba54cea9f8c06f7c29e7",
}


@dataclass
class DownloadResult:
    """What a download left in the folder, for the CLI to report."""

    directory: Path
    data_path: Path
    config: Path
    listed: int
    present: int
    fetched: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def download_dataset(
    name: str,
    directory: str | os.PathLike[str],
    *,
    archive: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    fixes: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> DownloadResult:
    """Download a dataset by name (only 'harrison' so far)."""
    if name.lower() != "harrison":
        raise InputError(f"unknown dataset {name!r} (available: harrison)")
    return download_harrison(directory, archive=archive, mirror=mirror, fixes=fixes, progress=progress)


def download_harrison(
    directory: str | os.PathLike[str],
    *,
    archive: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    fixes: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    expected_infohash: str | None = None,
) -> DownloadResult:
    """Fetch HARRISON into directory: lists, torrent and fixes, then the verified, extracted images.

    Images come from archive (a tar the user has, read in place and never modified), the
    mirror (every file under one base URL), or aria2c with the torrent, in that order.
    The torrent must be the official one (expected_infohash, default HARRISON_INFOHASH).
    fixes: a HARRISON_fixed.zip the user vouches for, used even when it is not the published one.
    """
    src = _sources(directory, archive, mirror, fixes)
    d = src.directory
    state = read_state(d)
    result = DownloadResult(d, d / SUBDIR, d / CONFIG_FILE, 0, 0)
    if not (src.archive or src.base or src.aria2c or (d / TAR).is_file() or state.get("extracted")):
        raise no_image_source()
    d.mkdir(parents=True, exist_ok=True)
    torrent, dataset = _metadata(src, result, expected_infohash or HARRISON_INFOHASH, progress)
    paths = [r.path for r in dataset.records]
    _images(src, torrent, state, paths, result, progress)
    _apply_fixes(src, result)
    _write_config(result.config, d, result)
    result.warnings.extend(dataset.warnings)
    result.listed = len(paths)
    result.present = count_present(paths)
    if result.present < result.listed:
        result.warnings.append(f"{result.listed - result.present:,} listed images are not in the archive")
    return result


@dataclass(frozen=True)
class _Sources:
    """Where the files can come from: the folder, the user's tar, a mirror's base URL, aria2c, the
    user's own fixes zip."""

    directory: Path
    archive: Path | None
    base: str | None
    aria2c: str | None
    fixes: Path | None = None

    @property
    def fixes_zip(self) -> Path:
        return self.fixes or self.directory / FIXED_ZIP


def _sources(
    directory: str | os.PathLike[str],
    archive: str | os.PathLike[str] | None,
    mirror: str | None,
    fixes: str | os.PathLike[str] | None = None,
) -> _Sources:
    """Check the options before anything is fetched: one line naming what is wrong."""
    d = Path(directory).expanduser().absolute()
    if d.exists() and not d.is_dir():
        raise InputError(f"{d}: exists and is not a folder")
    base = _mirror_base(mirror) if mirror else None
    archive_path = Path(archive).expanduser().absolute() if archive else None
    if archive_path is not None and not archive_path.is_file():
        raise InputError(f"{archive_path}: no such archive file")
    fixes_path = Path(fixes).expanduser().absolute() if fixes else None
    if fixes_path is not None and not fixes_path.is_file():
        raise InputError(f"{fixes_path}: no such fixes zip")
    return _Sources(d, archive_path, base, shutil.which("aria2c"), fixes_path)


def _metadata(
    src: _Sources, result: DownloadResult, infohash: str, progress: Progress | None
) -> tuple[TorrentInfo, Any]:
    """Stage 1, the small files (lists, torrent, fixes), fetched or reused before any big transfer.

    A bad file fetched now is removed, so that a re-run fetches it again.
    """
    d, base, data = src.directory, src.base, src.directory / SUBDIR
    urls = {name: (base or GITHUB_BASE) + name for name in (*LISTS, TORRENT)}
    urls[FIXED_ZIP] = base + FIXED_ZIP if base else GITHUB_FIXED_URL
    targets = {**{n: data / n for n in LISTS}, TORRENT: d / TORRENT, FIXED_ZIP: src.fixes_zip}
    try:
        for name, target in targets.items():
            if not target.is_file():
                _fetch_checked(name, urls[name], target, result, progress)
                result.fetched.append(name)
        if src.fixes is None:
            _check_fixes_zip(src.fixes_zip)
        torrent = read_torrent(d / TORRENT)
        if torrent.infohash != infohash:
            raise DownloadError(
                f"{d / TORRENT}: infohash {torrent.infohash} is not the official HARRISON torrent's "
                f"({infohash})"
            )
        if not zipfile.is_zipfile(src.fixes_zip):
            raise DownloadError(f"{src.fixes_zip}: not a zip archive")
        dataset = load_dataset(data)  # checks the lists and pins the split for training and evaluation
        _check_vocabulary_covers_tags(dataset, data)
    except HashtaggerError as e:
        for name in result.fetched:
            targets[name].unlink(missing_ok=True)
        removed = f"; removed what was just fetched ({', '.join(result.fetched)})" if result.fetched else ""
        raise DownloadError(f"{e}{removed}") from None
    return torrent, dataset


def _images(
    src: _Sources,
    torrent: TorrentInfo,
    state: dict,
    paths: list[Path],
    result: DownloadResult,
    progress: Progress | None,
) -> None:
    """Stage 2, the images: skipped when an earlier run extracted them and they are all still there."""
    d = src.directory
    if state.get("extracted") == torrent.infohash and count_present(paths) == len(paths):
        result.notes.append("images already extracted and verified; nothing to fetch")
        return
    tar, fetched = verified_tar(d, torrent, state, src.archive, src.base, src.aria2c, d / TORRENT, progress)
    if fetched:
        result.fetched.append(torrent.name)
    check_space(d, torrent.length, "extracting the images")
    exclude = {f"{SUBDIR}/{n}" for n in LISTS if (d / SUBDIR / n).is_file()}
    extract_tar(tar, d, exclude=exclude, progress=progress)
    state["extracted"] = torrent.infohash
    write_state(d, state)
    result.notes.append(f"extracted {tar.name} into {d}")


def _fetch_checked(
    name: str, url: str, target: Path, result: DownloadResult, progress: Progress | None
) -> None:
    """Fetch one metadata file; it takes its final name only once its hash matches or it parses whole.

    A server that closes the connection half-way without a Content-Length leaves a file that looks
    complete to HTTP: the check is what tells.
    """
    part = fetch(url, target, progress=progress, keep_part=True)
    try:
        known = KNOWN_SHA256.get(name)
        digest = sha256_file(part)
        if known and digest != known:
            if name == FIXED_ZIP:
                raise DownloadError(_not_published(url, digest, known, "refused and removed"))
            check_complete(name, part, url)
            result.warnings.append(
                f"{target}: differs from the copy published in 2018 (sha256 {known[:12]}...)"
            )
        elif not known:
            check_complete(name, part, url)
    except HashtaggerError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)


def check_complete(name: str, path: Path, source: str) -> None:
    """Refuse a file that does not parse whole: a list cut mid-line, a vocabulary missing ranks, a torrent
    cut short."""
    if name == TORRENT:
        read_torrent(path)
        return
    if name == FIXED_ZIP:
        if not zipfile.is_zipfile(path):
            raise DownloadError(f"{source}: not a zip archive")
        return
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DownloadError(f"{source}: not UTF-8 text (byte {e.start}); the file was removed") from None
    if not text.endswith("\n"):
        raise DownloadError(f"{source}: incomplete (it ends mid-line: the transfer was cut); run again")
    if name == "vocab_index.txt":
        lines = [line.split() for line in text.splitlines() if line.strip()]
        if any(len(p) != 2 or not p[1].isdigit() for p in lines):
            raise DownloadError(f"{source}: incomplete or malformed (expected '<tag> <rank>' lines)")
        if sorted(int(p[1]) for p in lines) != list(range(len(lines))):
            raise DownloadError(f"{source}: incomplete (its ranks are not 0 to {len(lines) - 1}); run again")


def _check_fixes_zip(path: Path) -> None:
    """A fixes zip already in the folder must be the published one (or be passed with --fixes)."""
    known = KNOWN_SHA256.get(FIXED_ZIP)
    if known and path.is_file():
        digest = sha256_file(path)
        if digest != known:
            raise DownloadError(_not_published(str(path), digest, known, "delete it to fetch it again"))


def _not_published(where: str, digest: str, known: str, what_now: str) -> str:
    return (
        f"{where}: sha256 {digest[:12]}... is not the published {FIXED_ZIP}'s ({known[:12]}...); "
        f"{what_now} (to use it anyway, pass it with --fixes FILE)"
    )


def _check_vocabulary_covers_tags(dataset: Any, data: Path) -> None:
    """HARRISON uses no tag outside vocab_index.txt: tags outside it mean a vocabulary cut at a line end."""
    if not dataset.vocab_file:
        return
    known = set(dataset.vocab_file)
    outside = sorted({t for r in dataset.records for t in r.tags if t not in known})
    if outside:
        raise DownloadError(
            f"{data / LISTS[2]}: incomplete: tag_list.txt uses {len(outside):,} tags it does not list "
            f"(e.g. {', '.join(outside[:3])})"
        )


def _apply_fixes(src: _Sources, result: DownloadResult) -> None:
    """Stage 3, the maintainer's replacements for two corrupt images (themselves a few bytes short).

    Only those two photos may be replaced, from at most FIXES_MAX_BYTES of data.
    """
    data = result.data_path
    replaced = extract_zip(src.fixes_zip, data, only=FIXES, max_bytes=FIXES_MAX_BYTES)
    if replaced:
        bad = sum(1 for name in replaced if not decodes(data / name))
        result.notes.append(
            f"applied {len(replaced)} replacement images from {FIXED_ZIP}"
            + (f"; {bad} of them are truncated and will be skipped as unreadable" if bad else "")
        )


def _mirror_base(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"--mirror {url!r}: give an http:// or https:// base URL")
    return url if url.endswith("/") else url + "/"


def _write_config(path: Path, d: Path, result: DownloadResult) -> None:
    """Write a training config once; a file the user may have edited is left alone."""
    if path.exists():
        return
    import yaml

    text = (
        "# HARRISON, downloaded and verified by `hashtagger download harrison`.\n"
        f"# Train with: hashtagger train --config {path}\n"
        + yaml.safe_dump({"data": {"path": str(d)}, "out": "runs/harrison"}, sort_keys=False)
    )
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    result.notes.append(f"wrote {path}")
