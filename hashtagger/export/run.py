"""`hashtagger export`: load a model, trace its scoring path, write ONNX or OpenVINO, check parity.

Order: load the model in fp32 on the CPU -> trace to ONNX (onnx.checker) -> optional int8 quantisation
-> optional OpenVINO conversion -> parity with PyTorch fp32 at batch 1 and batch N through the runtime
that will run it -> metadata (with the parity figures) -> move into place. An fp32 export whose
scores differ from PyTorch's by more than 1e-4, or whose top-k differs beyond near-ties, is not written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hashtagger.choices import EXPORT_FORMATS
from hashtagger.errors import ExportError, InputError
from hashtagger.export.parity import Parity, compare, synthetic_batch
from hashtagger.export.target import check_target, default_output, move_into_place
from hashtagger.files import write_error
from hashtagger.models.base import Tagger
from hashtagger.models.exported import CONTENT, load_exported
from hashtagger.models.exported_checks import FORMAT, FORMAT_VERSION, WEIGHTS
from hashtagger.models.spec import ModelSpec
from hashtagger.progress import Progress

FORMATS = EXPORT_FORMATS
PARITY_BATCH = 4
CALIBRATION_PHOTOS = 64


@dataclass
class ExportResult:
    """Where the export went and how it compares with PyTorch fp32."""

    path: Path
    fmt: str
    weights: str
    tags: int
    parity: list[Parity] = field(default_factory=list)


def describe_model(spec: str, tagger: Tagger) -> str:
    """A one-line description stored with the export."""
    from hashtagger.models.registry import get_model, model_names

    if spec in model_names("builtin"):
        prior = tagger.prior_weight
        return f"{get_model(spec).description} (prior weight {prior}, {len(tagger.vocabulary)} tags)"
    return f"{tagger.kind} over {len(tagger.vocabulary)} tags, exported from {Path(spec).name}"


def export_metadata(spec: str, tagger: Tagger, weights: str) -> dict[str, Any]:
    from hashtagger import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": __version__,
        "kind": tagger.kind,
        "name": Path(spec).stem if Path(spec).suffix else spec,
        "description": describe_model(spec, tagger),
        "vocabulary": list(tagger.vocabulary),
        "thresholds": None if tagger.thresholds is None else [float(t) for t in tagger.thresholds],
        "default_threshold": float(tagger.default_threshold),
        "preprocessing": tagger.preprocessing.to_dict(),
        "weights": weights,
        **tagger.ranking_metadata(),
    }


def calibration_arrays(tagger: Tagger, photos: Sequence[str]) -> np.ndarray:
    """Decoded calibration photos (at most CALIBRATION_PHOTOS), for int8 and the parity check."""
    from hashtagger.errors import ImageError
    from hashtagger.predict.inputs import expand_inputs
    from hashtagger.predict.pipeline import Failed

    arrays = []
    for item in expand_inputs(photos):
        if isinstance(item, Failed):
            raise InputError(item.error)
        try:
            arrays.append(tagger.preprocessing.load_array(item))
        except ImageError:
            continue
        if len(arrays) >= CALIBRATION_PHOTOS:
            break
    if not arrays:
        raise InputError("--calibration: no readable photos")
    return np.stack(arrays)


def export_model(
    spec: ModelSpec | str,
    fmt: str,
    out: str | os.PathLike[str] | None = None,
    *,
    weights: str = "fp32",
    calibration: Sequence[str] = (),
    progress: Progress | None = None,
) -> ExportResult:
    """Export one model to `out` (default: `default_output`); ExportError, nothing written, if a check fails.

    The export is built in a private folder beside the target and renamed into place only once checked;
    only an earlier export is ever replaced (see export/target.py). What it is doing goes to `progress`.
    """
    from hashtagger.export.graph import scoring_graph
    from hashtagger.models import open_tagger
    from hashtagger.runtime import RunOptions

    progress = progress or Progress()
    model = spec if isinstance(spec, ModelSpec) else ModelSpec(spec)
    spec = model.model

    _check_choices(fmt, weights, calibration)
    target = default_output(spec, fmt) if out is None else Path(out).expanduser()
    check_target(target, fmt)
    tagger = open_tagger(model, RunOptions("cpu", "fp32", runtime="torch"))
    graph = scoring_graph(tagger)  # before any work: kinds without a graph fail here
    meta = export_metadata(spec, tagger, weights)
    photos = calibration_arrays(tagger, calibration) if calibration else None
    batches = [synthetic_batch(tagger.preprocessing, n, seed=n) for n in (1, PARITY_BATCH)]
    if photos is not None:
        batches = [photos[:1], photos[:PARITY_BATCH]]
    try:
        work = Path(tempfile.mkdtemp(prefix=".hashtagger-export-", dir=target.parent))
    except OSError as e:
        raise write_error(target, e) from None
    try:
        progress.note(f"tracing {spec} ({len(tagger.vocabulary)} tags) to ONNX")
        built = _write_graph(graph, batches[-1], work, fmt, weights, meta, photos, progress)
        exported = load_exported(built)  # one session (or OpenVINO compile) for every parity batch
        parity = [compare(_reference(tagger, graph, b), exported.score(b)) for b in batches]
        meta["parity"] = [p.to_dict() for p in parity]
        _finish_metadata(built, fmt, meta)
        if weights == "fp32" and not all(p.ok for p in parity):
            raise ExportError(
                f"{fmt} export differs from PyTorch fp32 beyond {1e-4:g}: "
                + "; ".join(p.line() for p in parity)
                + " (nothing written)"
            )
        move_into_place(built, target, fmt, work / "previous")
    except OSError as e:
        raise write_error(target, e) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(target, fmt, weights, len(tagger.vocabulary), parity)


def _check_choices(fmt: str, weights: str, calibration: Sequence[str]) -> None:
    """The format and precision asked for, and what int8 needs, before anything is loaded."""
    if fmt not in FORMATS or weights not in WEIGHTS:
        raise InputError(f"format {fmt} / precision {weights}: choose from {FORMATS} / {WEIGHTS}")
    if weights == "int8" and fmt == "openvino":
        raise InputError(
            "--precision int8 makes ONNX exports only: OpenVINO runs an int8 graph beyond the convolutions "
            "chosen for it and moved clothing-small metrics by 2-18 points; for speed there, export fp32 "
            "and predict with --precision bf16"
        )
    if weights == "int8" and not calibration:
        raise InputError("--precision int8 needs --calibration PHOTOS (a folder of typical photos)")


def _write_graph(
    graph: Any,
    batch: np.ndarray,
    work: Path,
    fmt: str,
    weights: str,
    meta: dict[str, Any],
    photos: np.ndarray | None,
    progress: Progress,
) -> Path:
    """Trace the graph into `work` (quantised to int8 where `photos` calibrate it, converted for OpenVINO
    where asked), its metadata inside; returns the file or folder that is checked and moved into place."""
    from hashtagger.export.formats import onnx_to_openvino, quantize_int8, trace_to_onnx, write_onnx_metadata

    onnx_path = work / "model.onnx"
    trace_to_onnx(graph, batch, onnx_path)
    write_onnx_metadata(onnx_path, meta)
    if weights == "int8" and photos is not None:
        progress.note(f"quantising to int8 on {len(photos)} calibration photos")
        quantize_int8(onnx_path, work / "int8.onnx", photos)
        onnx_path = work / "int8.onnx"
        write_onnx_metadata(onnx_path, meta)
    if fmt != "openvino":
        return onnx_path
    onnx_to_openvino(onnx_path, work / "openvino", meta)
    return work / "openvino"


def _reference(tagger: Tagger, graph: Any, batch: np.ndarray) -> np.ndarray:
    """What PyTorch fp32 answers, the reference an export must match: the ranked scores of a zero-shot
    model (its export is ranked by the same rules after the graph), the graph's scores otherwise."""
    import torch

    with torch.inference_mode():
        if CONTENT in graph.outputs:
            return tagger.score(batch)
        return graph(torch.from_numpy(batch)).float().numpy()


def _finish_metadata(built: Path, fmt: str, meta: dict[str, Any]) -> None:
    from hashtagger.export.formats import write_onnx_metadata, write_sidecar

    if fmt == "onnx":
        write_onnx_metadata(built, meta)
    else:
        write_sidecar(built, meta)
