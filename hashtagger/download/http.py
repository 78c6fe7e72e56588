"""Resumable HTTP downloads: a `.part` file grown with Range requests, renamed only once complete.

Connection drops are retried RETRIES times (resuming each time); a failure keeps the .part, so the
next run goes on from where this one stopped.
"""

from __future__ import annotations

import errno
import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from hashtagger import __version__
from hashtagger.download.torrent import Progress
from hashtagger.errors import DownloadError

RETRIES = 5
RETRY_WAIT_S = 2.0
TIMEOUT_S = 60.0
CHUNK = 1 << 20
_UNREACHABLE = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN}


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
    failures = 0
    while not _attempt(url, part, dest.name, progress, expected_size, last=failures >= RETRIES):
        failures += 1
        time.sleep(RETRY_WAIT_S * failures)
    if not keep_part:
        os.replace(part, dest)
    return part if keep_part else dest


def _attempt(
    url: str, part: Path, label: str, progress: Progress | None, expected_size: int | None, *, last: bool
) -> bool:
    """One request for what the .part lacks: True when complete, False to retry; DownloadError when fatal."""
    have = part.stat().st_size if part.is_file() else 0
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    if expected_size is not None and have == expected_size:
        return True
    headers = {"User-Agent": f"hashtagger/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
            _receive(resp, part, have, label, progress, expected_size)
        return True
    except urllib.error.HTTPError as e:
        if e.code == 416 and have and expected_size is None:
            return True  # nothing past what we have: the .part is complete
        if e.code == 416:
            part.unlink(missing_ok=True)  # a stale .part longer than the file
        elif e.code < 500 or last:
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
        unreachable = _unreachable(url, e)
        if unreachable is not None:
            raise DownloadError(unreachable) from None
        if last:
            have = part.stat().st_size if part.is_file() else 0
            reason = getattr(e, "reason", None) or str(e) or e.__class__.__name__
            kept = f"{have:,} bytes kept in {part}, run again to resume" if have else "run again to retry"
            raise DownloadError(f"{url}: download interrupted ({reason}); {kept}") from None
    except OSError as e:
        raise DownloadError(f"{part}: cannot write ({e.strerror or e})") from None
    return False


def _receive(
    resp: http.client.HTTPResponse,
    part: Path,
    have: int,
    label: str,
    progress: Progress | None,
    expected_size: int | None,
) -> None:
    """Append a 206 response to the .part (or replace it with a 200's whole file), reporting progress."""
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
                progress(label, have, total or have, unit="B")
    if total is not None and have < total:
        raise http.client.IncompleteRead(b"", total - have)


def _unreachable(url: str, error: Exception) -> str | None:
    """One line when the host cannot be resolved or reached at all: retrying then only costs time."""
    reason = getattr(error, "reason", error)
    host = urllib.parse.urlsplit(url).netloc or url
    if isinstance(reason, socket.gaierror):
        return (
            f"cannot resolve the host {host} ({reason.strerror or reason}): check the address and the network"
        )
    if isinstance(reason, OSError) and reason.errno in _UNREACHABLE:
        return f"cannot reach {host} ({reason.strerror or reason}): check the address and the network"
    return None


def _range_start(content_range: str | None) -> int | None:
    m = re.match(r"bytes (\d+)-", content_range or "")
    return int(m.group(1)) if m else None
