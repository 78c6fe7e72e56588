"""Checks of an exported model before it tags anything: every metadata field, the graph's inputs and outputs
against that metadata, and the scores it returns.

An export is a file anyone can craft, so nothing in it is trusted: a wrong field, a graph whose outputs do
not match its vocabulary, or NaN scores is one CheckpointError naming the file and the field, never a
traceback and never scores used silently. The vocabulary check is the checkpoint's (models/checkpoint.py);
numbers are checked here in numpy, since tagging with an export never imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from hashtagger.choices import EXPORT_WEIGHTS
from hashtagger.errors import CheckpointError
from hashtagger.models.checkpoint import _check_vocabulary, _show
from hashtagger.models.steps import seen_steps

FORMAT = "hashtagger-export"
FORMAT_VERSION = 1
INPUT, OUTPUT, CONTENT = "images", "scores", "content"
#: A zero-shot export's optional (N, families) output: the classifier's probability on each class family its
#: metadata `families` names (classmap.CLASS_FAMILIES), which the objects and people steps read.
FAMILIES = "families"
WEIGHTS = EXPORT_WEIGHTS
_FLOATS = ("float32", "float16", "bfloat16", "float64")
#: Ranking rules that are shares (the CLI's --prior-weight is one too).
_SHARES = ("prior_weight", "cooc_share", "diversity")


@dataclass(frozen=True)
class Port:
    """One input or output of a compiled graph: its names, shape (None: dynamic; rank None: unknown), type."""

    names: frozenset[str]
    shape: tuple[int | None, ...] | None
    dtype: str


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return _finite(value) and value == int(value) and value >= 0


def check_metadata(meta: Any, source: Path) -> dict[str, Any]:
    """Validate every field a Tagger is rebuilt from; the first problem is one line naming file and field."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{source}: not a hashtagger export (no '{FORMAT}' metadata)")
    version = meta.get("format_version")
    if not _whole(version) or version < 1:
        raise CheckpointError(
            f"{source}: export metadata format_version must be a whole number >= 1, got {_show(version)}"
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: export format {version} is newer than this hashtagger understands "
            f"({FORMAT_VERSION}); upgrade hashtagger"
        )
    try:
        _check_fields(meta)
    except CheckpointError as e:
        raise CheckpointError(f"{source}: export metadata {e}") from None
    return meta


def _check_fields(meta: dict[str, Any]) -> None:
    from hashtagger.image.preprocess import Preprocessing

    for key in ("version", "kind", "name", "description"):
        if key in meta and not isinstance(meta[key], str):
            raise CheckpointError(f"{key} must be a string, got {_show(meta[key])}")
    if meta.get("weights", "fp32") not in WEIGHTS:
        raise CheckpointError(f"weights must be one of {', '.join(WEIGHTS)}, got {_show(meta['weights'])}")
    if "vocabulary" not in meta:
        raise CheckpointError("lacks its vocabulary")
    meta["vocabulary"] = _check_vocabulary(meta["vocabulary"])
    tags = len(meta["vocabulary"])
    thr = meta.get("thresholds")
    if thr is not None:
        if not isinstance(thr, list):
            raise CheckpointError(f"thresholds must be a list of numbers, got {_show(thr)}")
        bad = next((t for t in thr if not _finite(t)), None)
        if bad is not None:
            raise CheckpointError(f"thresholds must hold finite numbers, got {_show(bad)}")
        if len(thr) != tags:
            raise CheckpointError(f"thresholds holds {len(thr)} values for {tags} tags")
    if not _finite(meta.get("default_threshold", 0.5)):
        raise CheckpointError(
            f"default_threshold must be a finite number, got {_show(meta['default_threshold'])}"
        )
    if "preprocessing" not in meta:
        raise CheckpointError("lacks its preprocessing")
    Preprocessing.from_dict(meta["preprocessing"])
    parity = meta.get("parity", [])
    if not isinstance(parity, list) or not all(isinstance(p, dict) for p in parity):
        raise CheckpointError(f"parity must be a list of mappings, got {_show(parity)}")
    if "ranking" in meta:
        _check_ranking(meta["ranking"])
        _check_embeddings(meta.get("label_embeddings"), tags)
    for key, step in seen_steps().items():
        if key in meta:
            step.from_dict(meta[key], meta["vocabulary"])
    if "families" in meta:
        _check_families(meta["families"])


def _check_families(names: Any) -> None:
    from hashtagger.models.classmap import CLASS_FAMILIES

    known = list(CLASS_FAMILIES)
    if not isinstance(names, list) or not all(n in known for n in names) or len(set(names)) != len(names):
        raise CheckpointError(
            f"families must be a list of distinct names from {', '.join(known)}, got {_show(names)}"
        )


def _check_ranking(rk: Any) -> None:
    from hashtagger.rank import Ranking

    defaults = {f.name: f.default for f in fields(Ranking)}
    if not isinstance(rk, dict) or not set(rk) <= set(defaults):
        raise CheckpointError(f"ranking must be a mapping of {', '.join(sorted(defaults))}, got {_show(rk)}")
    for key, value in rk.items():
        if isinstance(defaults[key], int) and not _whole(value):
            raise CheckpointError(f"ranking.{key} must be a whole number >= 0, got {_show(value)}")
        if not _finite(value):
            raise CheckpointError(f"ranking.{key} must be a finite number, got {_show(value)}")
        if key in _SHARES and not 0 <= value <= 1:
            raise CheckpointError(f"ranking.{key} must be a number from 0 to 1, got {_show(value)}")


def _check_embeddings(d: Any, tags: int) -> None:
    emb = decode_array(d, "label_embeddings")
    if emb.ndim != 2 or emb.shape[0] != tags:
        raise CheckpointError(
            f"label_embeddings has shape {list(emb.shape)}, not one row for each of {tags} tags"
        )
    if not np.isfinite(emb).all():  # (checkpoint's _check_numbers would import torch)
        raise CheckpointError("label_embeddings holds NaN or infinite values")


def decode_array(d: Any, key: str) -> np.ndarray:
    """A float32 array stored as {shape, float32_base64}; CheckpointError (naming key) when damaged."""
    import base64

    try:
        shape = tuple(int(n) for n in d["shape"])
        a = np.frombuffer(base64.b64decode(d["float32_base64"], validate=True), dtype="<f4")
        return a.reshape(shape).astype(np.float32)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{key} is damaged ({type(e).__name__})") from None


def check_graph(source: Path, meta: dict[str, Any], inputs: list[Port], outputs: list[Port]) -> bool:
    """The graph takes one uint8 (N, 3, size, size) `images` and gives (N, tags) float outputs; returns
    whether a zero-shot export also gives the (N, families) `families` shares (older exports have none)."""
    size, tags = meta["preprocessing"]["size"], len(meta["vocabulary"])
    if len(inputs) != 1 or INPUT not in inputs[0].names:
        found = ", ".join(sorted(n for p in inputs for n in p.names)) or "none"
        raise CheckpointError(f"{source}: the graph must take one input '{INPUT}', it takes: {found}")
    _check_port(source, "input", INPUT, inputs[0], (None, 3, int(size), int(size)), ("uint8",))
    wanted = (OUTPUT, CONTENT) if "ranking" in meta else (OUTPUT,)
    for name in wanted:
        port = next((p for p in outputs if name in p.names), None)
        if port is None:
            found = ", ".join(sorted(n for p in outputs for n in p.names)) or "none"
            raise CheckpointError(f"{source}: the graph has no output '{name}' (its outputs: {found})")
        _check_port(source, "output", name, port, (None, tags), _FLOATS)
    if "families" not in meta or "ranking" not in meta:
        return False
    port = next((p for p in outputs if FAMILIES in p.names), None)
    if port is None:
        raise CheckpointError(
            f"{source}: the metadata names class families but the graph has no '{FAMILIES}'"
        )
    _check_port(source, "output", FAMILIES, port, (None, len(meta["families"])), _FLOATS)
    return True


def _check_port(
    source: Path, role: str, name: str, port: Port, shape: tuple[int | None, ...], dtypes: tuple[str, ...]
) -> None:
    what = f"{source}: the graph's {role} '{name}'"
    if port.dtype not in dtypes:
        raise CheckpointError(f"{what} holds {port.dtype}, not {dtypes[0]}")
    if port.shape is None:
        return  # rank unknown until it runs: check_scores checks the result
    if len(port.shape) != len(shape):
        raise CheckpointError(f"{what} has rank {len(port.shape)}, not {len(shape)} {_axes(role, name)}")
    for axis, (have, want) in enumerate(zip(port.shape, shape, strict=True)):
        if have is not None and want is not None and have != want:
            if role == "output":
                what_for = "families its metadata names" if name == FAMILIES else "tags of its vocabulary"
                raise CheckpointError(f"{what} gives {have} values per photo for the {want} {what_for}")
            raise CheckpointError(f"{what} has {have} on axis {axis}, not {want} {_axes(role, name)}")


def _axes(role: str, name: str) -> str:
    if role == "input":
        return "(photos, 3, size, size)"
    return "(photos, families)" if name == FAMILIES else "(photos, tags)"


def check_shares(source: Path, name: str, values: np.ndarray, photos: int, width: int) -> None:
    """The graph answered (photos, width) probabilities between 0 and 1; otherwise the model is refused."""
    ok = values.shape == (photos, width) and bool(np.isfinite(values).all())
    if not (ok and bool(((values >= -1e-3) & (values <= 1 + 1e-3)).all())):
        raise CheckpointError(
            f"{source}: the graph's output '{name}' is not {width} shares between 0 and 1 per photo; the "
            "export is damaged"
        )


def check_scores(source: Path, name: str, values: np.ndarray, photos: int, tags: int) -> None:
    """The graph answered (photos, tags) finite numbers; otherwise the model is refused."""
    if values.shape != (photos, tags):
        raise CheckpointError(
            f"{source}: the graph's output '{name}' has shape {list(values.shape)} for {photos} photos "
            f"and {tags} tags; the export is damaged"
        )
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise CheckpointError(
            f"{source}: the graph's output '{name}' holds NaN or infinite values for {int(bad.sum())} of "
            f"{photos} photos; the export is damaged"
        )
