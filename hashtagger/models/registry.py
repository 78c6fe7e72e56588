"""One registry of models: every built-in model and trainable kind is registered once, here or by a plugin.

Config choices (`model.kind`), CLI help, `hashtagger models`, `evaluate` and the tests all read from it,
the way timm's `register_model` / `create_model` work. Registering imports nothing heavy: an entry holds a
lazy loader, and only `load_model` runs it.

Roles:
- ``builtin``: a ready model shipped with the package (`--model zeroshot`); its loader takes an optional
  vocabulary (a list of tags) and prior weight.
- ``trainable``: a checkpoint kind written by `hashtagger train` (`model.kind` in the config); its loader
  takes the loaded checkpoint dict.
- ``exported``: a model file for another runtime (ONNX, OpenVINO); `matches(path)` tells whether a path
  holds one, and its loader takes the path.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hashtagger.errors import InputError
from hashtagger.models.entries import ROLES, ModelEntry, Requirement

if TYPE_CHECKING:
    from hashtagger.models.base import Tagger

_REGISTRY: dict[str, ModelEntry] = {}
_catalog_loaded = False


def register_model(
    name: str,
    *,
    role: str,
    description: str,
    loader: str | Callable[..., Tagger],
    requires: tuple[Requirement, ...] = (),
    vocab_requires: tuple[Requirement, ...] = (),
    train_requires: tuple[Requirement, ...] = (),
    trainer: str | None = None,
    resumable: bool = False,
    matches: str | Callable[[Path], bool] | None = None,
) -> ModelEntry:
    """Add (or replace, e.g. a test's fake) a model under `name`; a plugin's way in (the package's own
    models are the catalog's entries)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    entry = ModelEntry(
        name,
        role,
        description,
        loader,
        tuple(requires),
        tuple(vocab_requires),
        tuple(train_requires),
        trainer,
        resumable,
        matches,
    )
    _REGISTRY[name] = entry
    return entry


def unregister_model(name: str) -> None:
    """Remove a registration (tests that registered a fake)."""
    _REGISTRY.pop(name, None)


def _ensure_catalog() -> None:
    """Register what the package ships, once, on first use (the catalog imports nothing heavy)."""
    global _catalog_loaded
    if not _catalog_loaded:
        _catalog_loaded = True
        from hashtagger.models.catalog import MODELS

        for entry in MODELS:
            _REGISTRY[entry.name] = entry


def list_models(role: str | None = None) -> list[ModelEntry]:
    """Registered models, in registration order, optionally of one role."""
    _ensure_catalog()
    return [e for e in _REGISTRY.values() if role is None or e.role == role]


def model_names(role: str) -> tuple[str, ...]:
    """Names of one role, e.g. the choices of `model.kind` (role 'trainable')."""
    return tuple(e.name for e in list_models(role))


def get_model(name: str, role: str | None = None) -> ModelEntry:
    """The entry registered as `name`; a one-line error listing the known names otherwise."""
    _ensure_catalog()
    entry = _REGISTRY.get(name)
    if entry is None or (role is not None and entry.role != role):
        known = ", ".join(model_names(role)) if role else ", ".join(_REGISTRY)
        raise InputError(f"unknown model {name!r} (known: {known})")
    return entry


def load_model(
    spec: str | os.PathLike[str],
    *,
    vocabulary: list[str] | None = None,
    prior_weight: float | None = None,
    runtime: str = "auto",
) -> Tagger:
    """A built-in model by name, an exported model file, or any checkpoint written by `hashtagger train`.

    `vocabulary` and `prior_weight` apply to built-in (zero-shot) models only: a trained or exported
    model has its own vocabulary and no tag-statistics blend, so giving either is an error. `runtime`
    (choices.RUNTIMES) picks what runs it: auto = ONNX Runtime where a graph exists, else PyTorch.
    """
    name = str(spec)
    _ensure_catalog()
    entry = _REGISTRY.get(name)
    if entry is not None and entry.role == "builtin":
        _check_requirements(entry)
        return entry.load(vocabulary=vocabulary, prior_weight=prior_weight, runtime=runtime)
    path = _run_folder_model(Path(name).expanduser(), runtime)
    if not path.exists():
        known = ", ".join(model_names("builtin"))
        raise InputError(f"--model {name}: neither a built-in model ({known}) nor an existing model file")
    for option, value in (("--vocab", vocabulary), ("--prior-weight", prior_weight)):
        if value is not None:
            raise InputError(
                f"{option} applies to built-in zero-shot models only; "
                f"{name} has its own vocabulary and scores"
            )
    for exported in list_models("exported"):
        if exported.claims(path):
            if runtime == "torch":
                raise InputError(f"--runtime torch: {name} is an export, run by ONNX Runtime or OpenVINO")
            if runtime != "openvino":
                _check_requirements(exported)
            tagger = exported.load(path, runtime=runtime)
            break
    else:
        if runtime in ("onnx", "openvino"):
            raise InputError(
                f"--runtime {runtime}: {name} is a checkpoint, run by PyTorch; "
                "`hashtagger export` makes a file that ONNX Runtime or OpenVINO run"
            )
        tagger = _load_checkpoint_model(path)
    tagger.name = str(path)
    return tagger


def _run_folder_model(path: Path, runtime: str) -> Path:
    """A run folder means its best.pt; a checkpoint means the export `train` wrote beside it (best.onnx)
    when ONNX Runtime or OpenVINO is asked for, or when `auto` finds no PyTorch (a core install)."""
    if path.is_dir() and ((path / "best.pt").is_file() or (path / "best.onnx").is_file()):
        path = path / "best.pt" if (path / "best.pt").is_file() else path / "best.onnx"
    export = path.with_suffix(".onnx")
    if path.suffix != ".onnx" and not path.is_dir() and export.is_file():
        no_torch = importlib.util.find_spec("torch") is None
        if runtime in ("onnx", "openvino") or (runtime == "auto" and no_torch) or not path.exists():
            return export
    return path


def _load_checkpoint_model(path: Path) -> Tagger:
    from hashtagger.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    kind = ckpt["kind"]
    entry = _REGISTRY.get(kind)
    if entry is None or entry.role != "trainable":
        known = ", ".join(model_names("trainable"))
        raise InputError(f"{path}: unknown model kind '{kind}' (this hashtagger knows {known})")
    _check_requirements(entry)
    return entry.load(ckpt)


def _check_requirements(entry: ModelEntry) -> None:
    """Base needs, checked before slow loading; a custom vocabulary's needs are reported by its loader."""
    from hashtagger.errors import MissingDependencyError

    missing = entry.missing()
    if missing:
        what = "; ".join(f"{r.name} ({r.install})" for r in missing)
        raise MissingDependencyError(f"model {entry.name} needs {what}")
