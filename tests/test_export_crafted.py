"""Crafted exports are not trusted: every metadata field, the graph's inputs and outputs against that
metadata, and the scores it returns are checked; each problem is one line naming the file and the field.

The graphs are tiny hand-made ONNX models (onnx.helper): uint8 (N, 3, 4, 4) -> Flatten -> MatMul -> scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from hashtagger.cli import cli
from hashtagger.errors import CheckpointError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models.exported import encode_array, encode_metadata, load_exported
from hashtagger.models.exported_checks import FORMAT

onnx = pytest.importorskip("onnx", reason="crafted exports need onnx (hashtagger[onnx])")
pytest.importorskip("onnxruntime", reason="running exports needs onnxruntime (hashtagger[onnx])")

SIDE = 4
DROP = object()  # a metadata key to leave out
_SLICE = {"zero": 0, "three": [3], "start": [0], "axis": [1], "seven": [7, 7]}


def _meta(tags: int, **changes: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": 1,
        "kind": "classifier",
        "name": "crafted",
        "vocabulary": [f"tag{i}" for i in range(tags)],
        "thresholds": None,
        "default_threshold": 0.5,
        "preprocessing": Preprocessing(size=SIDE, crop_pct=1.0, draft=False).to_dict(),
        "weights": "fp32",
    }
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not DROP}


def crafted(
    path: Path,
    tags: int = 3,
    width: int | str | None = None,
    *,
    rank: int = 2,
    outputs: tuple[str, ...] = ("scores",),
    nan: bool = False,
    fail: bool = False,
    **changes: Any,
) -> Path:
    """An .onnx file whose graph gives `width` scores per photo (a str: declared dynamic, 3 at run time)."""
    from onnx import TensorProto, helper, numpy_helper

    real = width if isinstance(width, int) else tags
    weights = np.full((3 * SIDE * SIDE, real), np.nan if nan else 0.01, dtype=np.float32)
    nodes = [
        helper.make_node("Cast", ["images"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Flatten", ["f"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["s2"]),
    ]
    last = "s2"
    if isinstance(width, str):  # cut to 3 columns by a value computed from the photo: unknown until run
        ints = [helper.make_node("Cast", ["images"], ["i"], to=TensorProto.INT64)]
        ints.append(helper.make_node("ReduceMin", ["i"], ["lo"], axes=[0, 1, 2, 3], keepdims=0))
        ints.append(helper.make_node("Mul", ["lo", "zero"], ["z"]))
        ints.append(helper.make_node("Add", ["z", "three"], ["end"]))
        nodes += [*ints, helper.make_node("Slice", ["s2", "start", "end", "axis"], ["cut"])]
        last = "cut"
    if fail:  # reshaped to 7 x 7 by a value computed from the photo: fails only when it runs
        nodes.append(helper.make_node("Cast", ["images"], ["j"], to=TensorProto.INT64))
        nodes.append(helper.make_node("ReduceMin", ["j"], ["m"], axes=[0, 1, 2, 3], keepdims=0))
        nodes.append(helper.make_node("Mul", ["m", "zero"], ["mz"]))
        nodes.append(helper.make_node("Add", ["mz", "seven"], ["shape"]))
        nodes.append(helper.make_node("Reshape", [last, "shape"], ["broken"]))
        last = "broken"
    if rank == 1:
        nodes.append(helper.make_node("ReduceMean", ["s2"], ["s1"], axes=[1], keepdims=0))
        last = "s1"
    nodes += [helper.make_node("Identity", [last], [name]) for name in outputs]
    shape = ["batch", width if width is not None else tags][:rank]
    graph = helper.make_graph(
        nodes,
        "crafted",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", 3, SIDE, SIDE])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name in outputs],
        [numpy_helper.from_array(weights, "w")]
        + [numpy_helper.from_array(np.array(v, dtype=np.int64), k) for k, v in _SLICE.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in encode_metadata(_meta(tags, **changes)).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def _batch(n: int = 2) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 3, SIDE, SIDE), dtype=np.uint8)


def test_a_well_formed_crafted_export_is_used(tmp_path: Path) -> None:
    tagger = load_exported(crafted(tmp_path / "ok.onnx", tags=3))
    assert tagger.score(_batch()).shape == (2, 3)


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (dict(tags=997, width=3), "'scores' gives 3 values per photo for the 997 tags"),
        (dict(tags=5, width=997), "'scores' gives 997 values per photo for the 5 tags"),
        (dict(tags=3, rank=1), "'scores' has rank 1, not 2"),
        (dict(tags=3, outputs=("logits",)), "no output 'scores' (its outputs: logits)"),
        (dict(preprocessing=Preprocessing(size=8).to_dict()), "input 'images' has 4 on axis 2, not 8"),
    ],
    ids=["fewer-outputs", "more-outputs", "rank-1", "no-scores", "input-size"],
)
def test_a_graph_that_does_not_match_its_metadata_is_refused(
    tmp_path: Path, graph: dict, message: str
) -> None:
    path = crafted(tmp_path / "bad.onnx", **graph)
    with pytest.raises(CheckpointError, match=r"bad\.onnx: .*" + _re(message)) as err:
        load_exported(path)
    assert "\n" not in str(err.value)


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_a_zero_shot_export_needs_its_content_output(tmp_path: Path) -> None:
    emb = encode_array(np.ones((3, 4), dtype=np.float32))
    path = crafted(tmp_path / "zs.onnx", ranking={"prior_weight": 0.25}, label_embeddings=emb)
    with pytest.raises(CheckpointError, match=r"zs\.onnx: the graph has no output 'content'"):
        load_exported(path)


def test_a_dynamic_width_is_checked_when_it_runs(tmp_path: Path) -> None:
    tagger = load_exported(crafted(tmp_path / "dyn.onnx", tags=5, width="w"))  # gives 3 at run time
    with pytest.raises(CheckpointError, match=r"dyn\.onnx: the graph's output 'scores' has shape \[2, 3\]"):
        tagger.score(_batch())


def test_nan_scores_refuse_the_model_in_one_line(tmp_path: Path, photo_factory) -> None:
    path = crafted(tmp_path / "nan.onnx", nan=True)
    with pytest.raises(CheckpointError, match=r"nan\.onnx: .*'scores' holds NaN or infinite values"):
        load_exported(path).score(_batch())
    photo = photo_factory("p.jpg")
    r = CliRunner().invoke(cli, ["predict", str(photo), "-m", str(path), "-q", "--workers", "0"])
    assert r.exit_code == 1 and "NaN" in r.stderr and "Traceback" not in r.output
    assert r.stdout == ""  # never printed as scores


def test_a_graph_that_fails_when_it_runs_is_one_line(tmp_path: Path) -> None:
    tagger = load_exported(crafted(tmp_path / "fails.onnx", fail=True))
    with pytest.raises(CheckpointError, match=r"fails\.onnx: the graph failed to run \(") as err:
        tagger.score(_batch())
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (dict(thresholds=["a"]), "thresholds must hold finite numbers, got str 'a'"),
        (dict(thresholds=[[1], [1], [1]]), "thresholds must hold finite numbers, got list [1]"),
        (dict(thresholds=[0.5] * 5), "thresholds holds 5 values for 3 tags"),
        (dict(thresholds=[0.5, float("nan"), 0.5]), "thresholds must hold finite numbers, got float nan"),
        (dict(default_threshold="abc"), "default_threshold must be a finite number, got str 'abc'"),
        (dict(format_version="abc"), "format_version must be a whole number >= 1, got str 'abc'"),
        (dict(format_version=99), "export format 99 is newer than this hashtagger"),
        (dict(vocabulary="tag0"), "vocabulary must be a list of tags"),
        (dict(vocabulary=["a", "a", "b"]), "vocabulary lists the tag 'a' twice"),
        (dict(vocabulary=DROP), "export metadata lacks its vocabulary"),
        (dict(weights="int4"), "weights must be one of fp32, int8"),
        (dict(kind=7), "kind must be a string"),
        (dict(ranking={"prior_weight": "x"}), "ranking.prior_weight must be a finite number, got str 'x'"),
        (dict(ranking={"prior_weight": float("nan")}), "ranking.prior_weight must be a finite number"),
        (dict(ranking={"prior_weight": 3}), "ranking.prior_weight must be a number from 0 to 1"),
        (dict(ranking={"greedy": 2.5}), "ranking.greedy must be a whole number >= 0"),
        (dict(ranking={"speed": 1}), "ranking must be a mapping of"),
        (dict(ranking={}, label_embeddings={"shape": [2, 2], "float32_base64": "x"}), "label_embeddings"),
        (dict(ranking={}), "label_embeddings is damaged"),
        (dict(parity="good"), "parity must be a list of mappings"),
    ],
)
def test_every_metadata_field_is_checked_in_one_line(tmp_path: Path, changes: dict, field: str) -> None:
    path = crafted(tmp_path / "meta.onnx", tags=3, **changes)
    with pytest.raises(CheckpointError, match=r"meta\.onnx: .*" + _re(field)) as err:
        load_exported(path)
    assert "\n" not in str(err.value)


def test_bad_preprocessing_names_the_file(tmp_path: Path) -> None:
    pre = {k: v for k, v in Preprocessing(size=SIDE).to_dict().items() if k != "interpolation"}
    path = crafted(tmp_path / "pre.onnx", preprocessing=pre)
    with pytest.raises(
        CheckpointError, match=r"pre\.onnx: export metadata preprocessing lacks interpolation"
    ):
        load_exported(path)


def test_a_crafted_export_is_one_line_on_the_command_line(tmp_path: Path, photo_factory) -> None:
    photo = photo_factory("p.jpg")
    for i, graph in enumerate([dict(tags=997, width=3), dict(thresholds=[[1], [1], [1]])]):
        path = crafted(tmp_path / f"c{i}.onnx", **graph)
        r = CliRunner().invoke(cli, ["predict", str(photo), "-m", str(path), "-q", "--workers", "0"])
        assert r.exit_code == 1 and r.stdout == "", r.output
        assert len(r.stderr.strip().splitlines()) == 1 and str(path) in r.stderr


def test_a_crafted_openvino_folder_names_the_file_at_fault(tmp_path: Path) -> None:
    ov = pytest.importorskip("openvino", reason="OpenVINO exports need hashtagger[openvino]")
    from hashtagger.models.exported import IR_NAME, SIDECAR

    folder = tmp_path / "ov"
    folder.mkdir()
    ov.save_model(ov.convert_model(str(crafted(tmp_path / "src.onnx", width=3))), str(folder / IR_NAME))
    (folder / SIDECAR).write_text(json.dumps(_meta(997)))
    with pytest.raises(CheckpointError, match=r"model\.xml: the graph's output 'scores' gives 3 values"):
        load_exported(folder)
    (folder / SIDECAR).write_text(json.dumps(_meta(3, default_threshold="abc")))
    with pytest.raises(CheckpointError, match=r"hashtagger\.json: export metadata default_threshold"):
        load_exported(folder)
    (folder / SIDECAR).write_text(json.dumps(_meta(3)))
    assert load_exported(folder).score(_batch()).shape == (2, 3)


def test_deeply_nested_metadata_is_one_line(tmp_path: Path) -> None:
    path = crafted(tmp_path / "deep.onnx")
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "hashtagger.thresholds":
            prop.value = "[" * 100_000 + "]" * 100_000
    onnx.save(model, str(path))
    with pytest.raises(
        CheckpointError, match=r"deep\.onnx: metadata entry hashtagger\.thresholds is not valid JSON"
    ):
        load_exported(path)


def test_class_families_are_checked_against_the_graph(tmp_path: Path) -> None:
    """`families` gives one share per family its metadata names; an export whose graph gives a row of tags
    instead, or names a family hashtagger does not know, is damaged."""
    emb = encode_array(np.ones((3, 4), dtype=np.float32))
    zero_shot = {"ranking": {"prior_weight": 0.25}, "label_embeddings": emb}
    outputs = ("scores", "content", "families")
    path = crafted(tmp_path / "g.onnx", outputs=outputs, families=["garment", "dog"], **zero_shot)
    wrong = r"g\.onnx: the graph's output 'families' gives 3 values per photo for the 2 families its metadata"
    with pytest.raises(CheckpointError, match=wrong):
        load_exported(path)
    path = crafted(tmp_path / "u.onnx", outputs=outputs, families=["garment", "dog", "unicorn"], **zero_shot)
    with pytest.raises(CheckpointError, match=r"u\.onnx: export metadata families must be a list of"):
        load_exported(path)
    path = crafted(tmp_path / "n.onnx", outputs=outputs[:2], families=["garment", "dog", "cat"], **zero_shot)
    with pytest.raises(CheckpointError, match=r"n\.onnx: the metadata names class families but the graph"):
        load_exported(path)
