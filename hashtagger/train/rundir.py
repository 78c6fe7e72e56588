"""The run folder (`out`): one run per folder, never replaced by another run unless asked.

A run folder holds exactly RUN_FILES, a `tensorboard/` folder and the temp files a killed write of
one of them left (`.best.pt.1a2b3c4d.tmp`). A run never writes into the data (the dataset's folder,
or any folder holding a listed photo) nor into a folder holding anything else (the current folder,
`/`, a photo folder): both are refused in one line before any training work. A fresh run refuses a
folder that already holds a run with one line naming the folder and the two ways on: another
`out`, or `--overwrite`, which removes that run's files first so the old and the new never mix.
`--resume` continues the run of its own folder. Temp files a killed run left behind (kill -9
during a checkpoint write) are removed when the next run of that folder starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hashtagger.errors import ConfigError
from hashtagger.files import remove_stale_temps, temp_files

RUN_FILES = ("config.yaml", "metrics.csv", "last.pt", "best.pt", "best.onnx")
TENSORBOARD = "tensorboard"
# Keys a resumed run cannot change: the weights or the optimizer state would not fit.
FIXED_ON_RESUME = ("model.kind", "model.backbone", "model.freeze_backbone", "train.optimizer")


def run_folder(out: str) -> Path:
    """The folder `out` names, refused with one line when it is empty or names a file."""
    if not out.strip():
        raise ConfigError(
            "config key 'out' is empty: give the run folder, e.g. --set out=runs/mine "
            "(a run never writes into the current folder unless out is '.')"
        )
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"config key 'out': {path} is a file, not a folder; give a folder for the run")
    return path


def prepare_run_folder(
    out: str,
    *,
    data: str | None = None,
    resume: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    is_main: bool = True,
) -> Path:
    """Check (and, with overwrite, clear) the run folder before anything is written into it.

    `data` (data.path) names the dataset, whose folders a run never writes into. Every process
    checks, so all of them stop with the same message; only the main one removes files.
    """
    path = run_folder(out)
    if data:
        check_outside_data(path, data)
    continuing = resume is not None and _same_folder(path, Path(resume).expanduser().parent)
    if not continuing:
        check_only_run_files(path)
    held = existing_run_files(path)
    if held and not continuing and not overwrite:
        raise ConfigError(
            f"{path} already holds a run ({', '.join(held)}); give another folder with --set out=..., "
            f"or --overwrite to replace that run"
        )
    if is_main and path.is_dir():
        if held and overwrite and not continuing:
            _remove_run(path)
        remove_stale_temps(path)
    return path


def check_outside_data(path: Path, data: str) -> None:
    """Refuse an `out` that is, or lies inside, the dataset's folder or a folder holding its photos.

    A dataset that cannot be read is left to the loader, which says why in its own words.
    """
    from hashtagger.data.formats import data_folders
    from hashtagger.errors import DatasetError

    try:
        folders = data_folders(data)
    except DatasetError:
        return
    where = _real(path)
    for folder in folders:
        if where == folder or folder in where.parents:
            how = "is" if where == folder else "lies inside"
            raise ConfigError(
                f"config key 'out': {path} {how} the data folder {folder} of {data}; a run never writes "
                "into its data: give a folder of its own, e.g. --set out=runs/NAME"
            )


def check_only_run_files(path: Path) -> None:
    """Refuse an existing folder that holds anything but a run's files: a run never mixes with others'."""
    if _real(path) == Path(_real(path).anchor):
        raise ConfigError(
            f"config key 'out': {path} is the root folder; give a folder of its own for the run"
        )
    try:
        names = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    except OSError as e:
        raise ConfigError(f"config key 'out': cannot list {path} ({e.strerror or e})") from None
    temps = {p.name for p in temp_files(path, RUN_FILES)}
    other = [n for n in names if n not in RUN_FILES and n != TENSORBOARD and n not in temps]
    if other:
        shown = ", ".join(other[:3]) + (f" and {len(other) - 3} more" if len(other) > 3 else "")
        raise ConfigError(
            f"config key 'out': {path} holds files that are not a run's ({shown}); a run goes into a new "
            f"or empty folder (or one holding only an earlier run): give one, e.g. --set out=runs/NAME"
        )


def existing_run_files(path: Path) -> list[str]:
    """The run files (and TensorBoard folder) a folder holds."""
    names = [n for n in RUN_FILES if (path / n).exists()]
    if (path / TENSORBOARD).is_dir() and any((path / TENSORBOARD).iterdir()):
        names.append(TENSORBOARD + "/")
    return names


def check_resume_keys(saved: dict[str, Any], new: dict[str, Any]) -> None:
    """Refuse, naming the key, a resumed run whose config changes what its state was built for."""
    for key in FIXED_ON_RESUME:
        section, name = key.split(".")
        before = (saved.get(section) or {}).get(name)
        after = (new.get(section) or {}).get(name)
        if before is not None and before != after:
            raise ConfigError(
                f"config key '{key}' cannot change on --resume (the run was trained with {before}, "
                f"not {after}); start a new run with --config and another out"
            )


def _real(path: Path) -> Path:
    """The absolute path with links resolved, as far as it exists."""
    return Path(os.path.realpath(path))


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _remove_run(path: Path) -> None:
    """--overwrite: the previous run's files go, and nothing else in the folder."""
    for name in RUN_FILES:
        (path / name).unlink(missing_ok=True)
    events = path / TENSORBOARD
    if events.is_dir():
        for p in events.iterdir():
            if p.is_file() and p.name.startswith("events.out.tfevents."):
                p.unlink()
