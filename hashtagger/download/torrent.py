"""Torrent metadata and piece verification: how a 6 GB tar from any source is proved genuine.

A .torrent holds the SHA-1 of every fixed-size piece of the payload; hashing a file piece by
piece (streamed, never in memory) proves it byte-identical, whichever mirror served it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashtagger.errors import DownloadError
from hashtagger.progress import ProgressFn as Progress


class BencodeError(ValueError):
    """Malformed bencoded data (internal; surfaced as DownloadError)."""


def bdecode(data: bytes) -> Any:
    """Decode bencoded bytes into ints, bytes, lists and dicts (keys stay bytes)."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise BencodeError(f"{len(data) - end} trailing bytes")
    return value


def bencode(value: Any) -> bytes:
    """Encode ints, bytes/str, lists and dicts (keys sorted, as the format requires)."""
    if isinstance(value, bool) or not isinstance(value, (int, bytes, str, list, tuple, dict)):
        raise TypeError(f"cannot bencode {type(value).__name__}")
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, (list, tuple)):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
    return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"


def _decode(data: bytes, i: int) -> tuple[Any, int]:
    if i >= len(data):
        raise BencodeError("unexpected end of data")
    c = data[i : i + 1]
    if c == b"i":
        end = data.find(b"e", i)
        if end < 0:
            raise BencodeError("unterminated integer")
        text = data[i + 1 : end]
        if not text or not text.lstrip(b"-").isdigit():
            raise BencodeError(f"bad integer at byte {i}")
        return int(text), end + 1
    if c == b"l":
        out, i = [], i + 1
        while data[i : i + 1] != b"e":
            item, i = _decode(data, i)
            out.append(item)
        return out, i + 1
    if c == b"d":
        d, i = {}, i + 1
        while data[i : i + 1] != b"e":
            key, i = _decode(data, i)
            if not isinstance(key, bytes):
                raise BencodeError(f"dictionary key is not a string at byte {i}")
            d[key], i = _decode(data, i)
        return d, i + 1
    if c.isdigit():
        colon = data.find(b":", i)
        if colon < 0 or not data[i:colon].isdigit():
            raise BencodeError(f"bad string length at byte {i}")
        start, n = colon + 1, int(data[i:colon])
        if start + n > len(data):
            raise BencodeError("string runs past the end")
        return data[start : start + n], start + n
    raise BencodeError(f"unexpected byte {c!r} at {i}")


def _info_bytes(data: bytes) -> bytes:
    """The info dict exactly as stored: the infohash is over these bytes, not a re-encoding."""
    i = 1
    while data[i : i + 1] != b"e":
        key, i = _decode(data, i)
        start = i
        _, i = _decode(data, i)
        if key == b"info":
            return data[start:i]
    raise BencodeError("no info dictionary")


@dataclass(frozen=True)
class TorrentInfo:
    """The single-file torrent facts needed to verify a payload."""

    name: str
    length: int
    piece_length: int
    pieces: tuple[bytes, ...]
    infohash: str  # hex SHA-1 of the bencoded info dict: the torrent's identity

    @property
    def piece_count(self) -> int:
        return len(self.pieces)


def parse_torrent(data: bytes, source: str = "torrent") -> TorrentInfo:
    """Read name, length, piece length and piece hashes; compute the infohash."""
    try:
        meta = bdecode(data)
        info = meta[b"info"] if isinstance(meta, dict) else None
        if not isinstance(info, dict):
            raise BencodeError("no info dictionary")
        if b"files" in info:
            raise DownloadError(f"{source}: multi-file torrents are not supported")
        name, length = info[b"name"].decode("utf-8"), info[b"length"]
        piece_length, pieces = info[b"piece length"], info[b"pieces"]
    except (BencodeError, KeyError, TypeError, AttributeError, UnicodeDecodeError, ValueError) as e:
        raise DownloadError(f"{source}: not a valid torrent file ({e})") from None
    if not (isinstance(length, int) and isinstance(piece_length, int) and isinstance(pieces, bytes)):
        raise DownloadError(f"{source}: not a valid torrent file (bad field types)")
    if piece_length <= 0 or len(pieces) % 20 or len(pieces) // 20 != -(-length // piece_length):
        raise DownloadError(f"{source}: torrent pieces do not match its length ({length:,} bytes)")
    if "/" in name or os.sep in name or name in ("", ".", ".."):
        raise DownloadError(f"{source}: unsafe file name {name!r} in torrent")
    infohash = hashlib.sha1(_info_bytes(data)).hexdigest()
    chunks = tuple(pieces[i : i + 20] for i in range(0, len(pieces), 20))
    return TorrentInfo(name, length, piece_length, chunks, infohash)


def read_torrent(path: Path) -> TorrentInfo:
    """parse_torrent on a file, with the file named in errors."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DownloadError(f"{path}: cannot read torrent ({e.strerror or e})") from None
    return parse_torrent(data, str(path))


def bad_pieces(path: Path, torrent: TorrentInfo, progress: Progress | None = None) -> list[int]:
    """Indices of pieces whose SHA-1 differs from the torrent's, reading one piece at a time."""
    size = Path(path).stat().st_size
    if size != torrent.length:
        raise DownloadError(
            f"{path}: {size:,} bytes, the torrent says {torrent.length:,}: not the file {torrent.name}"
        )
    bad = []
    with open(path, "rb") as f:
        for i, expected in enumerate(torrent.pieces):
            if hashlib.sha1(f.read(torrent.piece_length)).digest() != expected:
                bad.append(i)
            if progress:
                progress("verifying", min((i + 1) * torrent.piece_length, size), size, unit="B")
    return bad


def describe_pieces(bad: list[int], total: int) -> str:
    """'pieces 3, 7 of 12' (first few only) for a one-line error."""
    shown = ", ".join(str(i) for i in bad[:8]) + (", ..." if len(bad) > 8 else "")
    return f"{'piece' if len(bad) == 1 else f'{len(bad)} pieces'} {shown} of {total}"
