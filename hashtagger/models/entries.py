"""What a registered model is: its entry (name, role, loader, needs) and what it needs beyond the base
install.

Standard library only, so the catalog, the registry and the CLI read entries without importing anything
heavy; a loader named as "module:function" is imported only when the model is loaded (`resolve`).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hashtagger.models.base import Tagger

ROLES = ("builtin", "trainable", "exported")


@dataclass(frozen=True)
class Requirement:
    """Something a model needs beyond the base install: a Python module or a data folder."""

    name: str
    install: str
    module: str | None = None
    check: str | None = None  # "module:function" returning something truthy when present

    def met(self) -> bool:
        """Whether it is installed here (a module is looked up, not imported)."""
        if self.module is not None:
            try:
                if importlib.util.find_spec(self.module) is None:
                    return False
            except (ImportError, ValueError):
                return False
        return bool(resolve(self.check)()) if self.check is not None else True


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its name, what it is, what it needs, and how to load it (lazily)."""

    name: str
    role: str
    description: str
    loader: str | Callable[..., Tagger]  # "module:function", imported only when the model is loaded
    requires: tuple[Requirement, ...] = ()
    vocab_requires: tuple[Requirement, ...] = ()  # builtin: extra needs for a custom vocabulary
    train_requires: tuple[Requirement, ...] = ()  # trainable: extra needs for training it
    trainer: str | None = None  # trainable: "module:function" that trains this kind from a Config
    resumable: bool = False  # trainable: whether `train --resume` can continue it
    matches: str | Callable[[Path], bool] | None = None  # exported: does this path hold such a model?

    def claims(self, path: Path) -> bool:
        """Exported kinds: whether `path` holds a model of this kind ("module:function" imported now)."""
        if self.matches is None:
            return False
        test = resolve(self.matches) if isinstance(self.matches, str) else self.matches
        return bool(test(path))

    def load(self, *args: Any, **kwargs: Any) -> Tagger:
        """Import the loader (when named as a string) and run it."""
        load = resolve(self.loader) if isinstance(self.loader, str) else self.loader
        return load(*args, **kwargs)

    def missing(self) -> list[Requirement]:
        """Requirements not installed here."""
        return [r for r in self.requires if not r.met()]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `hashtagger models --format json` and `GET /v1/models` print."""
        out: dict[str, Any] = {
            "name": self.name,
            "role": self.role,
            "description": self.description,
            "requires": [_req_dict(r) for r in self.requires],
        }
        if self.vocab_requires:
            out["custom_vocabulary_requires"] = [_req_dict(r) for r in self.vocab_requires]
        if self.train_requires:
            out["train_requires"] = [_req_dict(r) for r in self.train_requires]
        if self.role == "trainable":
            out["resumable"] = self.resumable
        return out


def _req_dict(r: Requirement) -> dict[str, Any]:
    return {"name": r.name, "installed": r.met(), "install": r.install}


def resolve(target: str) -> Callable[..., Any]:
    """'package.module:function' -> the function, imported now."""
    module, _, attrs = target.partition(":")
    obj: Any = importlib.import_module(module)
    for attr in attrs.split("."):
        obj = getattr(obj, attr)
    return obj
