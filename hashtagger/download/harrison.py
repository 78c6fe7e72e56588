"""`hashtagger download`: fetch a public dataset, verify it, extract it safely, write a config.

HARRISON's images exist only as one 6 GB tar behind a torrent, so whatever serves the tar
(a BitTorrent client, a mirror, a copy the user already has) it is checked piece by piece
against the official torrent's SHA-1 hashes before anything is extracted. HTTP downloads
resume with Range requests into a `.part` file that is renamed only once complete (and,
for the tar, verified). A state file in the folder makes re-runs skip what is done.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hashtagger import __version__
from hashtagger.data import load_dataset
from hashtagger.download.extract import extract_tar, extract_zip
from hashtagger.download.torrent import TorrentInfo, bad_pieces, describe_pieces, read_torrent
from hashtagger.errors import DownloadError, HashtaggerError, ImageError, InputError
from hashtagger.files import atomic_write

Progress = Callable[[str, int, int], None]

GITHUB_BASE = "https://raw.githubusercontent.com/minstone/HARRISON-Dataset/master/HARRISON/"
GITHUB_FIXED_URL = "https://raw.githubusercontent.com/minstone/HARRISON-Dataset/master/HARRISON_fixed.zip"
HARRISON_INFOHASH = "62457023e0de1009d7bf49541d4cf09c68f66339"  # the official torrent's identity
LISTS = ("data_list.txt", "tag_list.txt", "vocab_index.txt")
TORRENT = "HARRISON_dataset.torrent"
FIXED_ZIP = "HARRISON_fixed.zip"
TAR = "HARRISON_full.tar"  # the torrent's one file
SUBDIR = "HARRISON"  # the tar's top folder; the lists are stored there too
STATE_FILE = ".hashtagger-download.json"
CONFIG_FILE = "harrison.yaml"
# SHA-256 of the files as published in 2018: a difference is reported, not fatal.
KNOWN_SHA256 = {
    "data_list.txt": "6212396fac9ebe2511cab9ce60e6db36b58c2dae4c0325b12c91286eab6bb0a4",
    "tag_list.txt": "b272d4f89d7f01624957dd1fef75dfa3115823f247ec0ee933335ada67984ff3",
    "vocab_index.txt": "f49b0d0a00d2a79499bfe263e0bb12308c8d8ea090c60227653f3ee2d87071fe",
    "HARRISON_fixed.zip": "17a0de71c847fa01a800353e2c73a4fc12ae046b8548ba54cea9f8c06f7c29e7",
}
RETRIES = 5
RETRY_WAIT_S = 2.0
TIMEOUT_S = 60.0
CHUNK = 1 << 20


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
    progress: Progress | None = None,
) -> DownloadResult:
    """Download a dataset by name (only 'harrison' so far)."""
    if name.lower() != "harrison":
        raise InputError(f"unknown dataset {name!r} (available: harrison)")
    return download_harrison(directory, archive=archive, mirror=mirror, progress=progress)


def download_harrison(
    directory: str | os.PathLike[str],
    *,
    archive: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    progress: Progress | None = None,
    expected_infohash: str | None = None,
) -> DownloadResult:
    """Fetch HARRISON into directory: lists, torrent and fixes, then the verified, extracted images.

    Images come from archive (a tar the user has, read in place and never modified), the
    mirror (every file under one base URL), or aria2c with the torrent, in that order.
    The torrent must be the official one (expected_infohash, default HARRISON_INFOHASH).
    """
    expected_infohash = expected_infohash or HARRISON_INFOHASH
    d = Path(directory).expanduser().absolute()
    if d.exists() and not d.is_dir():
        raise InputError(f"{d}: exists and is not a folder")
    base = _mirror_base(mirror) if mirror else None
    archive_path = Path(archive).expanduser().absolute() if archive else None
    if archive_path is not None and not archive_path.is_file():
        raise InputError(f"{archive_path}: no such archive file")
    data = d / SUBDIR
    state = _read_state(d)
    result = DownloadResult(d, data, d / CONFIG_FILE, 0, 0)
    aria2c = shutil.which("aria2c")
    if not (archive_path or base or aria2c or (d / TAR).is_file() or state.get("extracted")):
        raise _no_image_source()
    d.mkdir(parents=True, exist_ok=True)

    # 1. metadata: small files, fetched (or reused) before any big transfer.
    urls = {name: (base or GITHUB_BASE) + name for name in (*LISTS, TORRENT)}
    urls[FIXED_ZIP] = base + FIXED_ZIP if base else GITHUB_FIXED_URL
    targets = {**{n: data / n for n in LISTS}, TORRENT: d / TORRENT, FIXED_ZIP: d / FIXED_ZIP}
    for name, target in targets.items():
        if target.is_file():
            continue
        fetch(urls[name], target, progress=progress)
        result.fetched.append(name)
        known = KNOWN_SHA256.get(name)
        if known and _sha256(target) != known:
            result.warnings.append(
                f"{target}: differs from the copy published in 2018 (sha256 {known[:12]}...)"
            )
    try:  # a bad file fetched now is removed, so that a re-run fetches it again
        torrent = read_torrent(d / TORRENT)
        if torrent.infohash != expected_infohash:
            raise DownloadError(
                f"{d / TORRENT}: infohash {torrent.infohash} is not the official HARRISON torrent's "
                f"({expected_infohash})"
            )
        if not zipfile.is_zipfile(d / FIXED_ZIP):
            raise DownloadError(f"{d / FIXED_ZIP}: not a zip archive")
        dataset = load_dataset(data)  # checks the lists and pins the split for training and evaluation
    except HashtaggerError as e:
        for name in result.fetched:
            targets[name].unlink(missing_ok=True)
        removed = f"; removed what was just fetched ({', '.join(result.fetched)})" if result.fetched else ""
        raise DownloadError(f"{e}{removed}") from None

    # 2. images: skipped when an earlier run extracted them and they are all still there.
    paths = [r.path for r in dataset.records]
    done = state.get("extracted") == torrent.infohash and _count_present(paths) == len(paths)
    if not done:
        tar = _verified_tar(d, torrent, state, archive_path, base, aria2c, result, progress)
        _check_space(d, torrent.length, "extracting the images")
        exclude = {f"{SUBDIR}/{n}" for n in LISTS if (data / n).is_file()}
        extract_tar(tar, d, exclude=exclude, progress=progress)
        state["extracted"] = torrent.infohash
        _write_state(d, state)
        result.notes.append(f"extracted {tar.name} into {d}")
    else:
        result.notes.append("images already extracted and verified; nothing to fetch")

    # 3. the maintainer's replacements for two corrupt images (themselves a few bytes short).
    replaced = extract_zip(d / FIXED_ZIP, data)
    if replaced:
        bad = sum(1 for name in replaced if not _decodes(data / name))
        result.notes.append(
            f"applied {len(replaced)} replacement images from {FIXED_ZIP}"
            + (f"; {bad} of them are truncated and will be skipped as unreadable" if bad else "")
        )

    # 4. a config to train from.
    _write_config(result.config, d, result)
    result.warnings.extend(dataset.warnings)
    result.listed = len(paths)
    result.present = _count_present(paths)
    if result.present < result.listed:
        result.warnings.append(f"{result.listed - result.present:,} listed images are not in the archive")
    return result


def fetch(
    url: str,
    dest: Path,
    *,
    progress: Progress | None = None,
    expected_size: int | None = None,
    keep_part: bool = False,
) -> Path:
    """Download url to dest through dest.part, resuming a previous attempt with a Range request.

    Connection drops are retried (RETRIES times, resuming each time); a failure leaves the
    .part for the next run. With keep_part the caller verifies and renames the .part itself.
    """
    part = dest.with_name(dest.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    label = dest.name
    failures = 0
    while True:
        have = part.stat().st_size if part.is_file() else 0
        if expected_size is not None and have > expected_size:
            part.unlink()
            have = 0
        if expected_size is not None and have == expected_size:
            break
        headers = {"User-Agent": f"hashtagger/{__version__}"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S
            ) as resp:
                if resp.status == 206:
                    if _range_start(resp.headers.get("Content-Range")) != have:
                        part.unlink(missing_ok=True)
                        raise http.client.HTTPException("the server sent another byte range")
                    mode = "ab"
                else:  # 200: the server sent the whole file
                    have, mode = 0, "wb"
                length = resp.headers.get("Content-Length")
                total = have + int(length) if length and length.isdigit() else expected_size
                with open(part, mode) as f:
                    while chunk := resp.read(CHUNK):
                        f.write(chunk)
                        have += len(chunk)
                        if progress:
                            progress(label, have, total or have)
                if total is not None and have < total:
                    raise http.client.IncompleteRead(b"", total - have)
            break
        except urllib.error.HTTPError as e:
            if e.code == 416 and have and expected_size is None:
                break  # nothing past what we have: the .part is complete
            if e.code == 416:
                part.unlink(missing_ok=True)  # a stale .part longer than the file
            elif e.code < 500 or failures >= RETRIES:
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
            if failures >= RETRIES:
                reason = getattr(e, "reason", None) or str(e) or e.__class__.__name__
                raise DownloadError(
                    f"{url}: download interrupted ({reason}); {have:,} bytes kept in {part}, "
                    "run again to resume"
                ) from None
        except OSError as e:
            raise DownloadError(f"{part}: cannot write ({e.strerror or e})") from None
        failures += 1
        time.sleep(RETRY_WAIT_S * failures)
    if not keep_part:
        os.replace(part, dest)
    return part if keep_part else dest


def aria2c_command(aria2c: str, torrent: Path, directory: Path, out_name: str, log: Path) -> list[str]:
    """aria2c arguments: fetch the torrent's one file as out_name in directory, stop when complete."""
    return [
        aria2c,
        f"--dir={directory}",
        f"--index-out=1={out_name}",
        "--seed-time=0",
        "--check-integrity=true",
        "--continue=true",
        "--file-allocation=none",
        "--quiet=true",
        f"--log={log}",
        "--log-level=warn",
        str(torrent),
    ]


def _verified_tar(
    d: Path,
    torrent: TorrentInfo,
    state: dict,
    archive: Path | None,
    base: str | None,
    aria2c: str | None,
    result: DownloadResult,
    progress: Progress | None,
) -> Path:
    """Return a tar proven to match the torrent, fetching it when none is at hand."""
    if archive is not None:
        bad = _verify(archive, torrent, state, d, progress)
        if bad:
            pieces = describe_pieces(bad, torrent.piece_count)
            raise DownloadError(
                f"{archive}: does not match the official torrent ({pieces} differ); left as it is"
            )
        return archive
    tar = d / torrent.name
    if tar.is_file():
        bad = _verify(tar, torrent, state, d, progress)
        if not bad:
            return tar
        tar.unlink()
        pieces = describe_pieces(bad, torrent.piece_count)
        raise DownloadError(f"{tar}: failed verification ({pieces} differ); removed, run again to fetch it")
    if not (base or aria2c):
        raise _no_image_source()
    part = tar.with_name(tar.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    _check_space(d, torrent.length - have + torrent.length, f"{torrent.name} and its extraction")
    if base:
        fetch(base + torrent.name, tar, progress=progress, expected_size=torrent.length, keep_part=True)
        source = base + torrent.name
    else:
        _run_aria2c(str(aria2c), d, part, torrent, progress)
        source = "the torrent (aria2c)"
    if not part.is_file():
        raise DownloadError(f"{source}: finished without producing {part}")
    try:
        bad = bad_pieces(part, torrent, progress)
    except DownloadError:
        part.unlink()
        raise
    if bad:
        part.unlink()
        raise DownloadError(
            f"{torrent.name} from {source} failed verification: {describe_pieces(bad, torrent.piece_count)} "
            "do not match the torrent's SHA-1; the download was removed"
        )
    os.replace(part, tar)
    _remember_verified(state, d, tar, torrent)
    result.fetched.append(torrent.name)
    return tar


def _verify(path: Path, torrent: TorrentInfo, state: dict, d: Path, progress: Progress | None) -> list[int]:
    """Piece-check path unless this very file (path, size, mtime) was verified before."""
    st = path.stat()
    mark = state.get("verified", {})
    if mark == {
        "path": str(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "infohash": torrent.infohash,
    }:
        return []
    bad = bad_pieces(path, torrent, progress)
    if not bad:
        _remember_verified(state, d, path, torrent)
    return bad


def _remember_verified(state: dict, d: Path, path: Path, torrent: TorrentInfo) -> None:
    st = path.stat()
    state["verified"] = {
        "path": str(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "infohash": torrent.infohash,
    }
    _write_state(d, state)


def _run_aria2c(aria2c: str, d: Path, part: Path, torrent: TorrentInfo, progress: Progress | None) -> None:
    """Run aria2c, reporting the growing .part size as progress; its log explains a failure."""
    log = d / ".aria2c.log"
    cmd = aria2c_command(aria2c, d / TORRENT, d, part.name, log)
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    except OSError as e:
        raise DownloadError(f"cannot run {cmd[0]}: {e.strerror or e}") from None
    try:
        while proc.poll() is None:
            if progress and part.is_file():
                progress(
                    f"{torrent.name} (torrent)", min(part.stat().st_size, torrent.length), torrent.length
                )
            time.sleep(1.0)
    except BaseException:
        proc.terminate()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise DownloadError(
            f"aria2c stopped with exit status {proc.returncode} (see {log}); run again to resume"
        )
    log.unlink(missing_ok=True)


def _no_image_source() -> DownloadError:
    return DownloadError(
        "HARRISON's images come only as a 6 GB tar from its torrent; give one of: "
        "install aria2c (BitTorrent client) and run again, --archive PATH to a HARRISON_full.tar "
        "you have, or --mirror URL serving the dataset files"
    )


def _check_space(d: Path, need: int, what: str) -> None:
    free = shutil.disk_usage(d).free
    if need > free:
        raise DownloadError(
            f"{d}: not enough free space for {what}: need {need / 1e9:.1f} GB, {free / 1e9:.1f} GB free"
        )


def _mirror_base(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"--mirror {url!r}: give an http:// or https:// base URL")
    return url if url.endswith("/") else url + "/"


def _range_start(content_range: str | None) -> int | None:
    m = re.match(r"bytes (\d+)-", content_range or "")
    return int(m.group(1)) if m else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _count_present(paths: list[Path]) -> int:
    return sum(1 for p in paths if p.is_file())


def _decodes(path: Path) -> bool:
    from hashtagger.image.load import load_image

    try:
        load_image(path)
    except ImageError:
        return False
    return True


def _read_state(d: Path) -> dict:
    try:
        state = json.loads((d / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(d: Path, state: dict) -> None:
    text = json.dumps(state, indent=1) + "\n"
    atomic_write(d / STATE_FILE, lambda tmp: Path(tmp).write_text(text))


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
