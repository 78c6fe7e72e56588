"""Safe archive extraction: plain files and folders only, always inside the destination.

Every member is checked before anything is written, so a hostile archive (absolute paths,
'..', links, device files, a zip declaring more bytes than allowed, a name it may not replace)
is refused whole. Data is streamed, never read whole into memory, and never past the member's
declared size. Each file is written through files.atomic_write (a temporary name, then a rename),
so an interrupted extraction leaves whole files only and a re-run just continues.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from collections import defaultdict
from collections.abc import Collection, Iterable
from pathlib import Path, PurePosixPath
from typing import IO

from hashtagger.errors import DownloadError
from hashtagger.files import atomic_write, remove_stale_temps
from hashtagger.progress import ProgressFn as Progress


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
            _clear_stale_temps(dest, (name for name, m in plan if m.isfile()))
            written = 0
            for i, (name, m) in enumerate(plan, 1):
                target = _target(dest, name, archive)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif name not in exclude and not _same_size(target, m.size):
                    src = tf.extractfile(m)
                    if src is None:
                        raise DownloadError(f"{archive}: cannot read member {m.name!r}")
                    _write_atomic(src, target, limit=m.size)
                    written += 1
                if progress and (i % 500 == 0 or i == len(plan)):
                    progress("extracting", i, len(plan), unit="file")
            return written
    except (tarfile.TarError, EOFError) as e:
        raise DownloadError(f"{archive}: not a readable tar archive ({e})") from None


def extract_zip(
    archive: Path, dest: Path, *, only: Collection[str] | None = None, max_bytes: int = 1 << 30
) -> list[str]:
    """Extract a zip's files into dest, replacing files whose content differs; return names written.

    only: the member names the zip may hold (each may replace its file in dest); any other member
    refuses the whole zip. max_bytes bounds the sum of the members' declared sizes (a zip bomb is
    refused before anything is written), and no member is written past its declared size.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            plan = _zip_plan(zf, archive, only, max_bytes)
            _clear_stale_temps(dest, (name for name, _ in plan))
            written = []
            for name, zi in plan:
                target = _target(dest, name, archive)
                with zf.open(zi) as src:
                    if _same_content(src, target, zi.file_size):
                        continue
                with zf.open(zi) as src:
                    _write_atomic(src, target, limit=zi.file_size)
                written.append(name)
            return written
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise DownloadError(f"{archive}: not a readable zip archive ({e})") from None


def _zip_plan(
    zf: zipfile.ZipFile, archive: Path, only: Collection[str] | None, max_bytes: int
) -> list[tuple[str, zipfile.ZipInfo]]:
    """The members to write, every one checked before anything is: names, links, declared sizes."""
    plan = []
    total = 0
    for zi in zf.infolist():
        name = safe_member_name(zi.filename, archive)
        if stat.S_ISLNK(zi.external_attr >> 16):
            raise DownloadError(
                f"{archive}: refused: member {zi.filename!r} is a link; nothing was extracted"
            )
        if not name or zi.is_dir():
            continue
        if only is not None and name not in only:
            raise DownloadError(
                f"{archive}: refused: member {name!r} is not one of the files it may replace "
                f"({', '.join(sorted(only))}); nothing was extracted"
            )
        total += zi.file_size
        if total > max_bytes:
            raise DownloadError(
                f"{archive}: refused: its members unpack to more than {max_bytes:,} bytes "
                "(a zip bomb?); nothing was extracted"
            )
        plan.append((name, zi))
    return plan


def _same_content(src: IO[bytes], target: Path, size: int) -> bool:
    """Whether target already holds exactly src's bytes (compared chunk by chunk, not in memory)."""
    if not _same_size(target, size):
        return False
    with open(target, "rb") as f:
        while True:
            a, b = src.read(1 << 20), f.read(1 << 20)
            if a != b:
                return False
            if not a:
                return True


def _target(dest: Path, name: str, archive: Path) -> Path:
    """dest/name, refusing it if an existing link inside dest would carry it elsewhere."""
    target = dest / name
    root = dest.resolve()
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not parent.resolve().is_relative_to(root) or target.is_symlink():
        raise DownloadError(f"{archive}: refused: {target} would be written outside {dest} through a link")
    return target


def _clear_stale_temps(dest: Path, names: Iterable[str]) -> None:
    """Remove temp files a killed extraction left for these members: one listing per folder
    (atomic_write's sole_writer would list it once per file); never through a link out of dest."""
    by_folder: dict[Path, set[str]] = defaultdict(set)
    for name in names:
        target = dest / name
        by_folder[target.parent].add(target.name)
    root = dest.resolve()
    for folder, targets in by_folder.items():
        if folder.resolve().is_relative_to(root):
            remove_stale_temps(folder, targets)


def _same_size(path: Path, size: int) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def _write_atomic(src: IO[bytes], target: Path, limit: int | None = None) -> None:
    """Stream src into target through files.atomic_write, never more than limit bytes."""

    def copy(tmp: str) -> None:
        with open(tmp, "wb") as out:
            copied = 0
            while chunk := src.read(1 << 20):
                copied += len(chunk)
                if limit is not None and copied > limit:
                    raise DownloadError(f"{target.name}: the archive member is longer than it declares")
                out.write(chunk)

    atomic_write(target, copy)
