"""The BitTorrent route for HARRISON's tar: aria2c fetches the torrent's one file as a `.part`."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from hashtagger.download.torrent import Progress, TorrentInfo
from hashtagger.errors import DownloadError


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


def run_aria2c(
    aria2c: str, torrent_file: Path, part: Path, torrent: TorrentInfo, progress: Progress | None
) -> None:
    """Run aria2c, reporting the growing .part size as progress; its log explains a failure."""
    d = part.parent
    log = d / ".aria2c.log"
    cmd = aria2c_command(aria2c, torrent_file, d, part.name, log)
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    except OSError as e:
        raise DownloadError(f"cannot run {cmd[0]}: {e.strerror or e}") from None
    try:
        while proc.poll() is None:
            if progress and part.is_file():
                size = min(part.stat().st_size, torrent.length)
                progress(f"{torrent.name} (torrent)", size, torrent.length, unit="B")
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
