"""HARRISON's image tar: the user's copy, one already in the folder, or one fetched (mirror or
aria2c), in every case proven piece by piece against the official torrent before it is used.

A verified tar is remembered in the folder's state (path, size, mtime), so a re-run does not hash
6 GB again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hashtagger.download.aria2c import run_aria2c
from hashtagger.download.http import fetch
from hashtagger.download.state import write_state
from hashtagger.download.torrent import Progress, TorrentInfo, bad_pieces, describe_pieces
from hashtagger.errors import DownloadError


def verified_tar(
    d: Path,
    torrent: TorrentInfo,
    state: dict,
    archive: Path | None,
    base: str | None,
    aria2c: str | None,
    torrent_file: Path,
    progress: Progress | None,
) -> tuple[Path, bool]:
    """A tar proven to match the torrent, and whether it was fetched now (none was at hand).

    archive: the user's tar, read in place; else d/<torrent name>; else fetched from the mirror's
    base URL or by aria2c with torrent_file, into a .part that is renamed only once verified.
    """
    if archive is not None:
        bad = _verify(archive, torrent, state, d, progress)
        if bad:
            pieces = describe_pieces(bad, torrent.piece_count)
            raise DownloadError(
                f"{archive}: does not match the official torrent ({pieces} differ); left as it is"
            )
        return archive, False
    tar = d / torrent.name
    if tar.is_file():
        bad = _verify(tar, torrent, state, d, progress)
        if not bad:
            return tar, False
        tar.unlink()
        pieces = describe_pieces(bad, torrent.piece_count)
        raise DownloadError(f"{tar}: failed verification ({pieces} differ); removed, run again to fetch it")
    if not (base or aria2c):
        raise no_image_source()
    part = tar.with_name(tar.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    check_space(d, torrent.length - have + torrent.length, f"{torrent.name} and its extraction")
    if base:
        fetch(base + torrent.name, tar, progress=progress, expected_size=torrent.length, keep_part=True)
        source = base + torrent.name
    else:
        run_aria2c(str(aria2c), torrent_file, part, torrent, progress)
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
    return tar, True


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
    write_state(d, state)


def no_image_source() -> DownloadError:
    """The one line when no tar can be had: the three ways to give one."""
    return DownloadError(
        "HARRISON's images come only as a 6 GB tar from its torrent; give one of: "
        "install aria2c (BitTorrent client) and run again, --archive PATH to a HARRISON_full.tar "
        "you have, or --mirror URL serving the dataset files"
    )


def check_space(d: Path, need: int, what: str) -> None:
    """Refuse to start a transfer or extraction the disk cannot hold (one line, in GB)."""
    free = shutil.disk_usage(d).free
    if need > free:
        raise DownloadError(
            f"{d}: not enough free space for {what}: need {need / 1e9:.1f} GB, {free / 1e9:.1f} GB free"
        )
