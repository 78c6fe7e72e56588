"""Safe archive extraction: plain files and folders only, always inside the destination.

Every member is checked before anything is written, so a hostile archive (absolute paths,
'..', links, device files) is refused whole. Each file is written to a temporary name and
renamed, so an interrupted extraction leaves whole files only and a re-run just continues.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Collection
from pathlib import Path, PurePosixPath
from typing import IO

from hashtagger.errors import DownloadError

Progress = Callable[[str, int, int], None]


def safe_member_name(name: str, archive: Path) -> str:
    """Normalise a member name or refuse it: no absolute path, no '..', nothing empty."""
    posix = name.replace("\\", "/")
    parts = [p for p in PurePosixPath(posix).parts if p not in ("", ".")]
    if posix.startswith("/") or (parts and ":" in parts[0]):
        raise DownloadError(
            f"{archive}: refused: member {name!r} has an absolute path; nothing was extracted"
        )
    if ".." in parts:
        raise DownloadError(
            f"{archive}: refused: member {name!r} points outside the folder ('..'); nothing was extracted"
        )
    return "/".join(parts)


def extract_tar(
    archive: Path,
    dest: Path,
    *,
    exclude: Collection[str] = (),
    progress: Progress | None = None,
) -> int:
    """Extract regular files and folders of a tar (any compression) into dest; return files written.

    Files already present with the member's size are kept (a re-run after an interruption
    resumes); names in exclude (normalised member names) are not written.
    """
    try:
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            plan = []
            for m in members:
                name = safe_member_name(m.name, archive)
                if not (m.isfile() or m.isdir()):
                    kind = "a link" if m.issym() or m.islnk() else "a device or special file"
                    raise DownloadError(
                        f"{archive}: refused: member {m.name!r} is {kind}; nothing was extracted"
                    )
                if name:
                    plan.append((name, m))
            written = 0
            for i, (name, m) in enumerate(plan, 1):
                target = _target(dest, name, archive)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif name not in exclude and not _same_size(target, m.size):
                    src = tf.extractfile(m)
                    if src is None:
                        raise DownloadError(f"{archive}: cannot read member {m.name!r}")
                    _write_atomic(src, target)
                    written += 1
                if progress and (i % 500 == 0 or i == len(plan)):
                    progress("extracting", i, len(plan))
            return written
    except (tarfile.TarError, EOFError) as e:
        raise DownloadError(f"{archive}: not a readable tar archive ({e})") from None


def extract_zip(archive: Path, dest: Path) -> list[str]:
    """Extract a zip's files into dest, replacing files whose content differs; return names written."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            plan = []
            for zi in infos:
                name = safe_member_name(zi.filename, archive)
                if stat.S_ISLNK(zi.external_attr >> 16):
                    raise DownloadError(
                        f"{archive}: refused: member {zi.filename!r} is a link; nothing was extracted"
                    )
                if name and not zi.is_dir():
                    plan.append((name, zi))
            written = []
            for name, zi in plan:
                target = _target(dest, name, archive)
                data = zf.read(zi)
                if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
                    continue
                with zf.open(zi) as src:
                    _write_atomic(src, target)
                written.append(name)
            return written
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise DownloadError(f"{archive}: not a readable zip archive ({e})") from None


def _target(dest: Path, name: str, archive: Path) -> Path:
    """dest/name, refusing it if an existing link inside dest would carry it elsewhere."""
    target = dest / name
    root = dest.resolve()
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not parent.resolve().is_relative_to(root) or target.is_symlink():
        raise DownloadError(f"{archive}: refused: {target} would be written outside {dest} through a link")
    return target


def _same_size(path: Path, size: int) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def _write_atomic(src: IO[bytes], target: Path) -> None:
    """Write through a temporary name, then rename.

    Not checkpoint.atomic_write: its mkstemp file has mode 0600, which would hide the
    dataset from the other users of a shared machine.
    """
    tmp = target.with_name(f".{target.name}.part")
    try:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
