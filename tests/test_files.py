"""Atomic writes: umask permissions, a full disk in one line, killed writers leave one temp file."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hashtagger.errors import OutputError
from hashtagger.files import atomic_write, remove_stale_temps, temp_files

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_files_get_the_umask_permissions(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "f.txt", lambda tmp: Path(tmp).write_text("x"))
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == mode


def _full_disk(tmp: str) -> None:
    Path(tmp).write_bytes(b"half of it")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line_naming_the_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "last.pt"
    target.write_text("the previous checkpoint")
    with pytest.raises(OutputError) as e:
        atomic_write(target, _full_disk)
    assert str(e.value) == f"no space left on the device for {target}; free some space and run again"
    assert isinstance(e.value, OSError) and e.value.errno == errno.ENOSPC
    assert target.read_text() == "the previous checkpoint" and temp_files(tmp_path) == []


def test_other_write_errors_name_the_file(tmp_path: Path) -> None:
    def denied(tmp: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    with pytest.raises(OutputError, match=r"f\.txt: cannot write \(Permission denied\)"):
        atomic_write(tmp_path / "f.txt", denied)


def test_checkpoint_write_on_a_full_disk_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.save hides the errno in a RuntimeError; the checkpoint writer brings it back."""
    import torch

    from hashtagger.models import checkpoint

    class FillsUp:
        def __init__(self, path: str, mode: str) -> None:
            self.f, self.written = open(path, mode), 0

        def write(self, data: bytes) -> int:
            self.written += len(data)
            if self.written > 4096:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def flush(self) -> None:
            self.f.flush()

        def __enter__(self) -> FillsUp:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    monkeypatch.setattr(checkpoint, "open", FillsUp, raising=False)
    payload = {"kind": "classifier", "vocabulary": ["a"], "preprocessing": {}, "config": {}}
    with pytest.raises(OutputError, match="no space left on the device for .*last.pt"):
        checkpoint.save_checkpoint(tmp_path / "last.pt", {**payload, "w": torch.zeros(10_000)})
    assert os.listdir(tmp_path) == []


KILLED_WRITE = """
import os, sys
from pathlib import Path
from hashtagger.files import atomic_write
def write(tmp):
    Path(tmp).write_bytes(b"x" * 1000)
    os.kill(os.getpid(), 9)  # kill -9 in the middle of the write
atomic_write(Path(sys.argv[1]), write, sole_writer=True)
"""


def test_writers_killed_mid_write_never_leave_more_than_one_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "last.pt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target)], env=env, check=False)
        assert proc.returncode == -9
        assert len(temp_files(tmp_path, ["last.pt"])) == 1
    assert not target.exists()
    atomic_write(target, lambda tmp: Path(tmp).write_text("whole"), sole_writer=True)
    assert target.read_text() == "whole" and temp_files(tmp_path) == []


def test_stale_temp_files_of_a_folder_are_removed_and_nothing_else(tmp_path: Path) -> None:
    names = [".last.pt.abc_1234.tmp", ".best.pt.k3j9x0a1.tmp", ".config.yaml.0123abcd.tmp"]
    for name in names:
        (tmp_path / name).write_text("stale")
    keep = [".hidden.tmp", "notes.tmp", ".last.pt.part", "last.pt"]
    for name in keep:
        (tmp_path / name).write_text("mine")
    assert remove_stale_temps(tmp_path, ["last.pt"]) == 1
    assert remove_stale_temps(tmp_path) == 2
    assert sorted(os.listdir(tmp_path)) == sorted(keep)
