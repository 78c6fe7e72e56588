"""Exported models (`hashtagger export`): ONNX files and OpenVINO folders, run without PyTorch.

An export holds the whole scoring path (normalisation, network, ConSE mixing and blend for the
zero-shot models) as one graph: uint8 NCHW `images` in, float32 (N, V) `scores` out, dynamic batch.
A zero-shot export also outputs `content` (the visual distribution q) and `families` (the classifier's
probability on garments, dogs, cats and birds, which the objects and people steps read), and carries its
ranking rules and label embeddings, so hashtagger ranks it exactly as the PyTorch model (hashtagger.rank).
Everything else a Tagger needs travels with it as JSON: in the ONNX file's metadata_props (one key
per item, see `METADATA_KEYS`) or in `hashtagger.json` beside the OpenVINO IR. Preprocessing runs in
Pillow + numpy (`Preprocessing.load_array`), so tagging a photo with an export never imports torch.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hashtagger.errors import CheckpointError, InputError, MissingDependencyError, first_line
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models.base import Tagger
from hashtagger.models.exported_checks import (
    CONTENT,
    FAMILIES,
    INPUT,
    OUTPUT,
    Port,
    check_graph,
    check_metadata,
    check_scores,
    check_shares,
    decode_array,
)
from hashtagger.models.steps import apply_seen, seen_steps
from hashtagger.runtime import onnx_session

SIDECAR = "hashtagger.json"
IR_NAME = "model.xml"
#: metadata_props keys (each value is JSON); `hashtagger.` prefixed so other tools' keys never clash.
METADATA_KEYS = (
    "format",
    "format_version",
    "version",
    "kind",
    "name",
    "description",
    "vocabulary",
    "thresholds",
    "default_threshold",
    "preprocessing",
    "weights",
    "parity",
    "ranking",
    "label_embeddings",
    "people",
    "objects",
    "colours",
    "families",
)
PREFIX = "hashtagger."
RUNTIMES = {"onnx": "ONNX Runtime", "openvino": "OpenVINO"}


def is_onnx_path(path: Path) -> bool:
    """An ONNX file (by suffix)."""
    return path.suffix.lower() == ".onnx" and path.is_file()


def openvino_files(path: Path) -> tuple[Path, Path] | None:
    """(model.xml, hashtagger.json) of an OpenVINO export folder (or its .xml file), else None."""
    if path.is_dir():
        xml, meta = path / IR_NAME, path / SIDECAR
    elif path.suffix.lower() == ".xml":
        xml, meta = path, path.with_name(SIDECAR)
    else:
        return None
    return (xml, meta) if xml.is_file() and meta.is_file() else None


def is_openvino_path(path: Path) -> bool:
    """An OpenVINO export folder (or its model .xml) with hashtagger's metadata beside it."""
    return openvino_files(path) is not None


def is_exported_path(path: Path) -> bool:
    """Whether a --model path is an export (rather than a PyTorch checkpoint)."""
    return is_onnx_path(path) or openvino_files(path) is not None


def encode_metadata(meta: dict[str, Any]) -> dict[str, str]:
    """The metadata dict -> ONNX metadata_props (key -> JSON text)."""
    return {PREFIX + k: json.dumps(meta[k], ensure_ascii=False) for k in METADATA_KEYS if k in meta}


def decode_metadata(props: dict[str, str], source: Path) -> dict[str, Any]:
    """ONNX metadata_props -> the metadata dict, checked; one-line errors for foreign or broken files."""
    meta: dict[str, Any] = {}
    for k in METADATA_KEYS:
        text = props.get(PREFIX + k)
        if text is None:
            continue
        try:
            meta[k] = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise CheckpointError(f"{source}: metadata entry {PREFIX}{k} is not valid JSON") from None
    return check_metadata(meta, source)


def encode_array(a: np.ndarray) -> dict[str, Any]:
    """A float32 array as JSON: shape and base64 of its little-endian bytes (exact, unlike decimals)."""
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "float32_base64": base64.b64encode(a.tobytes()).decode("ascii")}


class ExportedTagger(Tagger):
    """A model exported by `hashtagger export`, run by ONNX Runtime or OpenVINO on the CPU."""

    uses_torch = False

    def __init__(self, path: Path, meta: dict[str, Any], runtime: str, session: Any = None) -> None:
        self.path = path
        self.meta = meta
        self.runtime = runtime
        self.kind = str(meta.get("kind", "exported"))
        self.name = str(path)
        self.description = str(meta.get("description", ""))
        self.vocabulary = [str(t) for t in meta["vocabulary"]]
        thr = meta.get("thresholds")
        self.thresholds = None if thr is None else [float(t) for t in thr]
        self.default_threshold = float(meta.get("default_threshold", 0.5))
        self.preprocessing = Preprocessing.from_dict(meta["preprocessing"])
        self.weights = str(meta.get("weights", "fp32"))
        self.precision = "fp32"
        self._run: Any = session
        files = openvino_files(path) if runtime == "openvino" else None
        self.graph_file = files[0] if files is not None else path  # named by graph errors
        if session is None:
            self._compile()
        has_families = check_graph(self.graph_file, meta, *_ports(self._run, runtime))
        #: the class families the graph's `families` output gives, in its column order (none: an older export)
        self.families: list[str] = [str(f) for f in meta["families"]] if has_families else []
        self.social: Any = None
        self.ranker: Any = None
        if "ranking" in meta:
            from hashtagger.rank import Ranker, Ranking, SocialPrior

            self.social = SocialPrior.harrison(self.vocabulary)
            emb = decode_array(meta["label_embeddings"], "label_embeddings")
            self.ranker = Ranker(Ranking(**meta["ranking"]), self.social, emb)
        # the steps after the graph (colours, objects, people); one an export lacks is not applied
        self.steps: dict[str, Any] = {
            key: step.from_dict(meta[key], self.vocabulary) if key in meta else None
            for key, step in seen_steps().items()
        }

    def _compile(self) -> None:
        if self.runtime == "onnx":
            self._run = onnx_session(self.path)
        else:
            self._run = _openvino_compiled(self.path, self.precision)

    def _outputs(self, batch: np.ndarray, names: tuple[str, ...]) -> list[np.ndarray]:
        """Outputs of the graph, from one run in cache-sized passes as PyTorch runs on the CPU
        (runtime.forward): measured on 2 cores, passes of 8 instead of 32 took ONNX Runtime from 132 to
        152-159 photos/s and OpenVINO from 219 to 235-246 (fp32) and 507 to 559-594 (bf16)."""
        from hashtagger.runtime import cpu_passes

        x = np.ascontiguousarray(batch, dtype=np.uint8)
        parts: list[list[np.ndarray]] = [[] for _ in names]
        for p in cpu_passes(len(x)):
            try:
                if self.runtime == "onnx":
                    got = [np.asarray(a) for a in self._run.run(list(names), {INPUT: x[p]})]
                else:
                    answer = self._run(x[p])
                    got = [np.asarray(answer[self._run.output(name)]) for name in names]
            except Exception as e:  # noqa: BLE001 - a graph that fails is a damaged model, in one line
                raise CheckpointError(
                    f"{self.graph_file}: the graph failed to run ({first_line(e)})"
                ) from None
            for name, part, kept in zip(names, got, parts, strict=True):
                # a crafted graph may answer any shape, or NaN: refused, never read as scores
                if name == FAMILIES:
                    check_shares(self.graph_file, name, part, len(x[p]), len(self.families))
                else:
                    check_scores(self.graph_file, name, part, len(x[p]), len(self.vocabulary))
                kept.append(part)
        return [np.concatenate(k).astype(np.float32, copy=False) for k in parts]

    def score_explained(self, batch: np.ndarray) -> tuple[np.ndarray, Any]:
        """Scores and, for zero-shot exports, the ranking parts (the same rules as the PyTorch model)."""
        if self.ranker is None:
            return self._outputs(batch, (OUTPUT,))[0], None
        families = None
        if self.families:
            q, shares = self._outputs(batch, (CONTENT, FAMILIES))
            families = dict(zip(self.families, shares.T, strict=True))
        else:
            [q] = self._outputs(batch, (CONTENT,))
        ranked = self.ranker.rank(*apply_seen(q, batch, families=families, **self.steps))
        return ranked.score, ranked

    def score(self, batch: np.ndarray) -> np.ndarray:
        """uint8 NCHW -> float32 (N, V) scores, as `predict` ranks them."""
        return self.score_explained(batch)[0]

    @property
    def prior_weight(self) -> float | None:
        return None if self.ranker is None else float(self.ranker.ranking.prior_weight)

    def set_prior_weight(self, weight: float) -> None:
        from dataclasses import replace

        if self.ranker is None:
            super().set_prior_weight(weight)
        self.ranker = self.ranker.with_social(self.social, replace(self.ranker.ranking, prior_weight=weight))

    def with_social(self, social: Any) -> ExportedTagger:
        """Rank with other tag statistics (a user's --profile), as the PyTorch zero-shot model does."""
        self.social = social
        self.ranker = self.ranker.with_social(social)
        return self

    def tag(self, batch: Any) -> Any:
        """The Tagger interface for callers holding a torch tensor: same scores, as a tensor."""
        import torch

        return torch.from_numpy(self.score(batch.cpu().numpy()))

    def to(self, device: str) -> ExportedTagger:
        if device not in ("auto", "cpu"):
            raise InputError(f"--device {device}: exported models run on the CPU here (use --device cpu)")
        return self

    def set_precision(self, precision: str) -> None:
        """fp32 unless asked; OpenVINO can run bf16 on request. int8 is chosen at export time."""
        if precision in ("auto", "fp32"):
            wanted = "fp32"
        elif precision == "bf16" and self.runtime == "openvino":
            wanted = "bf16"
        else:
            raise InputError(
                f"--precision {precision}: {RUNTIMES[self.runtime]} runs this export in fp32"
                + (" (bf16 needs an OpenVINO export)" if precision == "bf16" else "")
                + "; int8 is chosen when exporting (hashtagger export --precision int8)"
            )
        if wanted != self.precision:
            self.precision = wanted
            self._compile()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "runtime": RUNTIMES[self.runtime],
            "weights": self.weights,
            "precision": self.precision,
        }


def _openvino_compiled(path: Path, precision: str) -> Any:
    try:
        import openvino as ov
    except ImportError:
        raise MissingDependencyError(
            f"{path}: running an OpenVINO model needs OpenVINO: pip install 'hashtagger[openvino]'"
        ) from None
    files = openvino_files(path)
    if files is None and not is_onnx_path(path):
        raise CheckpointError(f"{path}: no {IR_NAME} and {SIDECAR} here")
    core = ov.Core()
    try:
        model = core.read_model(str(files[0] if files is not None else path))
        # Pinned: on CPUs with AMX/AVX-512 BF16, OpenVINO otherwise switches to bf16 silently.
        hint = "f32" if precision == "fp32" else "bf16"
        return core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: not a readable OpenVINO model ({first_line(e)})") from None


def _ports(run: Any, runtime: str) -> tuple[list[Port], list[Port]]:
    """The compiled graph's inputs and outputs, whichever runtime holds it."""
    if runtime == "onnx":
        return [_onnx_port(a) for a in run.get_inputs()], [_onnx_port(a) for a in run.get_outputs()]
    return [_openvino_port(a) for a in run.inputs], [_openvino_port(a) for a in run.outputs]


def _onnx_port(arg: Any) -> Port:
    shape = arg.shape
    dims = None if shape is None else tuple(d if isinstance(d, int) else None for d in shape)
    dtype = str(arg.type).removeprefix("tensor(").removesuffix(")")
    return Port(frozenset([arg.name]), dims, {"float": "float32", "double": "float64"}.get(dtype, dtype))


_OV_TYPES = {"u8": "uint8", "f32": "float32", "f16": "float16", "bf16": "bfloat16", "f64": "float64"}


def _openvino_port(port: Any) -> Port:
    shape = port.get_partial_shape()
    dims = None
    if shape.rank.is_static:
        dims = tuple(d.get_length() if d.is_static else None for d in shape)
    dtype = port.get_element_type().get_type_name()
    return Port(frozenset(port.get_names()), dims, _OV_TYPES.get(dtype, dtype))


def load_exported(path: str | os.PathLike[str], runtime: str = "auto") -> ExportedTagger:
    """Load an .onnx file or an OpenVINO export folder as a Tagger (no torch); `runtime="openvino"`
    runs an .onnx file with OpenVINO."""
    p = Path(path).expanduser()
    files = openvino_files(p)
    if files is None and runtime == "openvino" and is_onnx_path(p):
        return _onnx_on_openvino(p)
    if files is not None and runtime == "onnx":
        raise InputError(f"--runtime onnx: {p} is an OpenVINO export (use --runtime openvino or auto)")
    if files is not None:
        try:
            meta = json.loads(files[1].read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as e:
            raise CheckpointError(f"{files[1]}: not readable export metadata ({first_line(e)})") from None
        return ExportedTagger(p, check_metadata(meta, files[1]), "openvino")
    if not is_onnx_path(p):
        raise CheckpointError(f"{p}: neither an .onnx file nor an OpenVINO export folder")
    session = onnx_session(p)
    meta = decode_metadata(dict(session.get_modelmeta().custom_metadata_map), p)
    return ExportedTagger(p, meta, "onnx", session)


def _onnx_on_openvino(path: Path) -> ExportedTagger:
    """An .onnx export compiled by OpenVINO (which reads ONNX directly): its metadata read with onnx."""
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError(
            f"{path}: OpenVINO reads an ONNX file's metadata with onnx: pip install 'hashtagger[openvino]'"
        ) from None
    try:
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception as e:  # noqa: BLE001 - a damaged file is a one-line user error
        raise CheckpointError(f"{path}: not a readable ONNX model ({first_line(e)})") from None
    return ExportedTagger(path, decode_metadata(props, path), "openvino")
