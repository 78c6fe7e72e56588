"""Uploaded photos, streamed into a private temporary folder with the size limit enforced as bytes arrive.

Nothing is buffered whole in memory and nothing lands outside the folder (mode 0700, removed after
scoring). Files are stored under generated names; the client's file name is only a display label,
reduced to a safe base name. The whole body must arrive within a deadline, so a client sending one byte
a second cannot hold a connection for ever.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from hashtagger.errors import InputError

FIELD = "file"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>\"\\]")


class TooLarge(InputError):
    """The request is over the upload limit."""


class NoFile(InputError):
    """The request holds no photo (no multipart 'file' field)."""


class SlowUpload(InputError):
    """The request body did not arrive within the upload deadline."""


#: Unicode categories left out of labels: controls, format characters (the bidi overrides such as U+202E,
#: which make 'photo\u202egpj.exe' read as 'photoexe.jpg', zero-width characters) and line separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def display_label(filename: str | None, index: int) -> str:
    """A client file name reduced to something safe to show: base name only, printable, at most 120 chars."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _INVISIBLE)
    name = _UNSAFE.sub("", name).strip().lstrip(".")
    return name[:120] or f"upload-{index + 1}"


@dataclass
class Upload:
    label: str
    path: Path


@dataclass
class UploadFolder:
    """A private folder holding one request's photos; `close` removes it with everything in it."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hashtagger-serve-")))
    files: list[Upload] = field(default_factory=list)

    def new_file(self, filename: str | None) -> tuple[Upload, IO[bytes]]:
        index = len(self.files)
        path = self.root / f"{index:04d}.upload"
        handle = open(path, "xb")  # noqa: SIM115 - closed by the parser at the part's end
        upload = Upload(display_label(filename, index), path)
        self.files.append(upload)
        return upload, handle

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class _Parts:
    """The multipart parser's callbacks: each part of the 'file' field streams into a new file of folder."""

    CALLBACKS = (
        "on_header_field",
        "on_header_value",
        "on_header_end",
        "on_headers_finished",
        "on_part_data",
        "on_part_end",
    )

    def __init__(self, folder: UploadFolder, max_files: int) -> None:
        self.folder = folder
        self.max_files = max_files
        self.headers: dict[bytes, bytes] = {}
        self.field = b""
        self.handle: IO[bytes] | None = None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {name: getattr(self, name) for name in self.CALLBACKS}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        key = self.field.lower()
        self.headers[key] = self.headers.get(key, b"") + data[start:end]

    def on_header_end(self) -> None:
        self.field = b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, disp = parse_options_header(self.headers.get(b"content-disposition", b""))
        if disp.get(b"name") == FIELD.encode():
            if len(self.folder.files) >= self.max_files:
                raise TooLarge(f"more than {self.max_files} photos in one request")
            filename = disp.get(b"filename", b"").decode("utf-8", "replace")
            self.handle = self.folder.new_file(filename)[1]

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.handle is not None:
            self.handle.write(data[start:end])

    def on_part_end(self) -> None:
        self.close_file()
        self.headers, self.field, self.handle = {}, b"", None

    def close_file(self) -> None:
        if self.handle is not None:
            self.handle.close()


async def receive_uploads(
    content_type: str,
    body: AsyncIterator[bytes],
    max_bytes: int,
    max_files: int,
    timeout: float | None = None,
) -> UploadFolder:
    """Parse a multipart/form-data body chunk by chunk; TooLarge past `max_bytes` in total or `max_files`,
    SlowUpload when the whole body has not arrived within `timeout` seconds."""
    from python_multipart import MultipartParser
    from python_multipart.multipart import parse_options_header

    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise NoFile(f"send photos as multipart/form-data, field '{FIELD}'")
    folder = UploadFolder()
    parts = _Parts(folder, max_files)
    parser = MultipartParser(boundary, parts.callbacks())
    received = 0
    try:
        async for chunk in _within(body, timeout):
            received += len(chunk)
            if received > max_bytes:
                raise TooLarge(f"upload over the limit of {max_bytes / 1e6:g} MB")
            parser.write(chunk)
        parser.finalize()
    except BaseException:
        parts.close_file()
        folder.close()
        raise
    if not folder.files:
        folder.close()
        raise NoFile(f"no photo: send one or more files in the multipart field '{FIELD}'")
    return folder


async def _within(body: AsyncIterator[bytes], timeout: float | None) -> AsyncIterator[bytes]:
    """The chunks of `body`; SlowUpload once `timeout` seconds have passed since the first was asked for."""
    if timeout is None:
        async for chunk in body:
            yield chunk
        return
    deadline = time.monotonic() + timeout
    chunks = aiter(body)
    while True:
        try:
            chunk = await asyncio.wait_for(anext(chunks), max(deadline - time.monotonic(), 0.0))
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise SlowUpload(f"upload not received within {timeout:g} s") from None
        yield chunk


def request_pixels(folder: UploadFolder) -> int:
    """Width x height summed over a request's photos, read from their headers (nothing decoded)."""
    from hashtagger.image.load import header_size

    sizes = [header_size(u.path) for u in folder.files]
    return sum(w * h for w, h in filter(None, sizes))
