"""Writing files safely: one place for atomic writes (temp file in the same folder, then rename).

Temp files are named `.<name>.<random>.tmp` beside their target (the name cut short where that
would pass the 255 bytes a file name may have) and created with the usual
permissions (0666 less the umask, like any file the user writes). A crash or kill -9 can leave
one behind; `remove_stale_temps` clears those of a folder a single writer owns (a run folder),
and `atomic_write(..., sole_writer=True)` clears a target's earlier ones before writing, so a
series of kills never piles up more than one. A full disk is one line naming the file.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from hashtagger.errors import InputError, OutputError

TEMP_SUFFIX = ".tmp"
#: Bytes in one file name on the usual file systems (ext4, XFS, Btrfs, tmpfs, APFS, NTFS).
NAME_MAX = 255
_FULL = {errno.ENOSPC, errno.EDQUOT}
# .<target>.<8 random characters>.tmp (also the mkstemp names of earlier versions)
_TEMP_NAME = re.compile(r"\.(.+)\.[A-Za-z0-9_]{8}\.tmp")


def atomic_write(path: Path, write: Callable[[str], Any], *, sole_writer: bool = False) -> None:
    """Call write(tmp_path), then rename onto path: readers never see a partial file.

    sole_writer: this process is the only writer of path (a run's checkpoints), so temp files
    an earlier, killed writer left for it are removed first. A full disk raises OutputError.
    A file that is replaced keeps its permissions and owner; a symbolic link is written through to its
    target and stays a link (a sidecar linked from elsewhere is updated there, not replaced by a copy).
    """
    path = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    try:
        st = path.stat() if path.is_file() else None
        mode = None if st is None else stat.S_IMODE(st.st_mode)
        path.parent.mkdir(parents=True, exist_ok=True)
        if sole_writer:
            remove_stale_temps(path.parent, [path.name])
        tmp = _create_temp(path)
    except OSError as e:
        raise write_error(path, e) from None
    try:
        write(str(tmp))
        if st is not None:
            _keep_owner(tmp, st)
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_error(path, e) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _keep_owner(tmp: Path, st: os.stat_result) -> None:
    """The replaced file's owner and group, where this process may set them (root may; others keep
    their own, which is the same owner when they own the file)."""
    if (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()) or not hasattr(os, "chown"):
        return
    try:
        os.chown(tmp, st.st_uid, st.st_gid)
    except PermissionError:
        pass


def write_error(path: Path, error: OSError) -> OutputError:
    """One line for a failed write: 'no space left' for a full disk or quota, else the OS's reason."""
    if isinstance(error, OutputError):
        return error
    if error.errno in _FULL:
        out = OutputError(f"no space left on the device for {path}; free some space and run again")
    else:
        out = OutputError(f"{path}: cannot write ({os_reason(error)})")
    out.errno = error.errno
    return out


def is_regular_file(path: str | os.PathLike[str]) -> bool:
    """True for a regular file (links followed); False for folders, devices, missing or unusable paths."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        return False


def read_regular(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of a regular file, at most max_bytes; never waits on a FIFO or reads a device forever.

    The file is opened without blocking and checked before any read. Raises OSError whose strerror
    says why: IsADirectoryError for a folder, 'not a regular file (a FIFO)', 'larger than N bytes'.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({_kind(st.st_mode)})", str(path))
        chunks, size = [], 0
        while size <= max_bytes and (chunk := os.read(fd, min(1 << 20, max_bytes + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > max_bytes:
        raise OSError(errno.EFBIG, f"larger than {max_bytes:,} bytes", str(path))
    return b"".join(chunks)


def os_reason(error: OSError) -> str:
    """Why an OS call failed, in words; a name too long says how long it is and the limit."""
    if error.errno == errno.ENAMETOOLONG and isinstance(error.filename, str):
        size = len(os.fsencode(os.path.basename(error.filename)))
        if size > NAME_MAX:
            return f"file name too long: {size} bytes, the file system allows {NAME_MAX}"
    return error.strerror or str(error)


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device")]
    kinds.append((stat.S_ISBLK, "a device"))
    return next((name for test, name in kinds if test(mode)), "a special file")


def user_cache_dir() -> Path:
    """Where hashtagger caches what it can recompute: $HASHTAGGER_CACHE, else $XDG_CACHE_HOME/hashtagger,
    else ~/.cache/hashtagger (splits/, features/, vocabulary embeddings)."""
    if os.environ.get("HASHTAGGER_CACHE"):
        return Path(os.environ["HASHTAGGER_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hashtagger"


def temp_files(folder: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Temp files atomic_write left in folder (for the given target names, or for any target)."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    wanted = None if names is None else {_temp_stem(n) for n in names}
    found = []
    for p in entries:
        m = _TEMP_NAME.fullmatch(p.name)
        if m and (wanted is None or m.group(1) in wanted) and p.is_file():
            found.append(p)
    return sorted(found)


def remove_stale_temps(folder: Path, names: Iterable[str] | None = None, older_than: float = 0.0) -> int:
    """Remove temp files a killed writer left in folder. Where others may be writing the same targets
    (photos), `older_than` seconds since a temp file was last written tells a leftover from a live one."""
    import time

    removed = 0
    now = time.time()
    for p in temp_files(folder, names):
        try:
            if older_than and now - p.stat().st_mtime < older_than:
                continue
            p.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


class ErrorKeepingWriter:
    """A file wrapper that remembers the OSError of a failed write.

    torch.save turns a failed write into a RuntimeError without the errno; re-raising the
    kept OSError lets a full disk be told from a bug.
    """

    def __init__(self, f: Any) -> None:
        self.f = f
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


def _temp_stem(name: str) -> str:
    """The target's name as its temp files carry it: cut so that the temp name fits in NAME_MAX bytes."""
    room = NAME_MAX - len(f"..12345678{TEMP_SUFFIX}")
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return name


def _create_temp(path: Path) -> Path:
    """A new, empty temp file beside path; O_EXCL with mode 0666 lets the umask decide permissions."""
    stem = _temp_stem(path.name)
    for _ in range(100):
        tmp = path.with_name(f".{stem}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def check_writable(path: Path) -> None:
    """InputError when `path` is a folder or a file its owner marked read-only (even for root)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; not written")
    if path.exists() and not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise InputError(f"{path}: file is read-only; not changed")


def stream_name(stream: TextIO, fallback: str = "standard output") -> str:
    """Where a stream writes: the file behind its descriptor (Linux /proc), else fallback."""
    try:
        target = os.readlink(f"/proc/self/fd/{stream.fileno()}")
    except (OSError, ValueError, AttributeError):
        return fallback
    return target if target.startswith("/") else fallback


def full_stream_error(stream: TextIO, e: OSError) -> OSError:
    """For a full disk under `stream`: one OutputError naming where it writes, with the stream's
    descriptor then pointed at /dev/null so that the interpreter's final flush of the unwritten rest
    does not print a second error at exit. Any other error is returned as it is."""
    if e.errno not in _FULL or isinstance(e, OutputError):
        return e
    name = stream_name(stream)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return OutputError(f"no space left on the device for {name}; free some space and run again")


class GuardedOutput:
    """Wraps a text stream (predict's stdout) so that a full disk is one OutputError naming the file.

    Once the disk is full, the stream's descriptor is pointed at /dev/null (see full_stream_error).
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as e:
            raise self._error(e) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as e:
            raise self._error(e) from None

    def _error(self, e: OSError) -> OSError:
        return full_stream_error(self._stream, e)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
