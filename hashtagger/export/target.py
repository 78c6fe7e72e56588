"""Where an export goes: the default name, which existing paths may be replaced, and the final rename.

Only an earlier export may be replaced: an .onnx file whose metadata is a valid hashtagger export, or a
folder that holds nothing but the files an OpenVINO export consists of, with a valid `hashtagger.json`.
Anything else at the target (a user's folder, a foreign model, a link) is refused in one line before any
work and checked again just before the rename, so `export` never deletes what it did not write.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from hashtagger.errors import CheckpointError, InputError
from hashtagger.models.exported import IR_NAME, SIDECAR, check_metadata, decode_metadata

#: Every file an OpenVINO export folder holds.
OPENVINO_FILES = frozenset({IR_NAME, str(Path(IR_NAME).with_suffix(".bin")), SIDECAR})


def default_output(spec: str, fmt: str) -> Path:
    """`<model name>.onnx`, or the folder `<model name>-openvino`, in the current folder."""
    name = Path(spec.rstrip("/\\")).stem or "model"
    return Path(f"{name}.onnx" if fmt == "onnx" else f"{name}-openvino")


def check_target(out: Path, fmt: str) -> None:
    """InputError unless `out` is new, an empty folder (OpenVINO), or an earlier export of the same format."""
    if out.is_symlink():
        raise InputError(f"-o {out}: is a link; not replaced (give a new name, or remove the link)")
    if fmt == "onnx":
        if out.suffix.lower() != ".onnx":
            raise InputError(f"-o {out}: an ONNX export is a file ending in .onnx")
        if out.is_dir():
            raise InputError(f"-o {out}: is a folder; give a file name ending in .onnx")
        if out.exists() and not _earlier_onnx(out):
            raise InputError(
                f"-o {out}: exists and is not an earlier hashtagger export; not replaced "
                "(choose a new name, or remove it first)"
            )
    elif out.exists():
        if not out.is_dir():
            raise InputError(f"-o {out}: an OpenVINO export is a folder, and this is a file")
        problem = _not_openvino_export(out)
        if problem is not None:
            raise InputError(
                f"-o {out}: folder exists and is not an earlier export ({problem}); nothing changed, "
                "choose a new folder"
            )
    if not out.parent.is_dir():
        raise InputError(f"-o {out}: folder {out.parent} does not exist")


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _earlier_onnx(path: Path) -> bool:
    """A regular .onnx file carrying valid hashtagger export metadata."""
    if not _regular(path):
        return False
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        decode_metadata({p.key: p.value for p in model.metadata_props}, path)
    except Exception:  # noqa: BLE001 - unreadable, foreign or damaged: not ours to replace
        return False
    return True


def _not_openvino_export(folder: Path) -> str | None:
    """Why `folder` is not an earlier OpenVINO export (None when it is one, or is empty)."""
    try:
        entries = list(folder.iterdir())
    except OSError as e:
        return f"cannot be read: {e.strerror or e}"
    if not entries:
        return None
    other = sorted(e.name for e in entries if e.name not in OPENVINO_FILES or not _regular(e))
    if other:
        shown = ", ".join(other[:3]) + (f" and {len(other) - 3} more" if len(other) > 3 else "")
        return f"it holds {shown}"
    sidecar = folder / SIDECAR
    try:
        check_metadata(json.loads(sidecar.read_text(encoding="utf-8")), sidecar)
    except (OSError, ValueError, RecursionError, CheckpointError):
        return f"its {SIDECAR} is not one hashtagger wrote"
    return None


def move_into_place(built: Path, target: Path, fmt: str, spare: Path) -> None:
    """Rename the checked export onto `target`; an earlier export there is replaced whole.

    The target is checked again first (it may have changed during the export). An earlier OpenVINO
    folder is moved to `spare` (inside the private work folder, removed afterwards) and moved back if
    the new one cannot be put in its place, so a failure leaves the earlier export intact.
    """
    check_target(target, fmt)
    if fmt == "onnx":
        if target.exists():
            os.chmod(built, stat.S_IMODE(target.stat().st_mode))  # a replaced file keeps its permissions
        os.replace(built, target)
        return
    had_old = target.exists()
    if had_old:
        os.replace(target, spare)
    try:
        os.replace(built, target)
    except OSError:
        if had_old:
            os.replace(spare, target)
        raise
