"""`hashtagger export` and exported models: parity with PyTorch, metadata, runtimes, no torch at run time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import EXPORT_VOCAB

from hashtagger.cli import cli
from hashtagger.errors import CheckpointError, ExportError, InputError, MissingDependencyError
from hashtagger.export.parity import TOLERANCE, compare, other_top_k_rows, synthetic_batch
from hashtagger.models import load_tagger

onnx = pytest.importorskip("onnx", reason="ONNX export needs hashtagger[onnx]")
pytest.importorskip("onnxruntime", reason="ONNX models need hashtagger[onnx]")


def _parity(reference_spec: str, exported: Path, sizes=(1, 5)) -> list:
    torch_tagger, runtime_tagger = load_tagger(reference_spec), load_tagger(exported)
    out = []
    for n in sizes:
        batch = synthetic_batch(torch_tagger.preprocessing, n, seed=100 + n)
        out.append(compare(torch_tagger.score(batch), runtime_tagger.score(batch)))
    return out


def test_onnx_matches_pytorch_at_batch_1_and_n(calibrated_checkpoint: Path, tiny_onnx: Path) -> None:
    for p in _parity(str(calibrated_checkpoint), tiny_onnx):
        assert p.max_abs_diff <= TOLERANCE and p.rows_with_other_top_k == 0, p.line()


def test_metadata_travels_in_the_onnx_file(tiny_onnx: Path) -> None:
    props = {p.key: p.value for p in onnx.load(str(tiny_onnx)).metadata_props}
    assert json.loads(props["hashtagger.vocabulary"]) == EXPORT_VOCAB
    thresholds = json.loads(props["hashtagger.thresholds"])
    assert thresholds[0] == pytest.approx(0.1) and thresholds[-1] == pytest.approx(0.6)
    assert json.loads(props["hashtagger.preprocessing"])["size"] == 32
    assert "classifier over 12 tags" in json.loads(props["hashtagger.description"])
    parity = json.loads(props["hashtagger.parity"])
    assert [p["batch"] for p in parity] == [1, 4] and all(p["max_abs_diff"] <= TOLERANCE for p in parity)
    graph = onnx.load(str(tiny_onnx)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"  # dynamic batch axis
    tagger = load_tagger(tiny_onnx)
    assert tagger.thresholds is not None and len(tagger.thresholds) == 12 and not tagger.uses_torch


def test_predict_with_onnx_gives_the_checkpoints_answers(
    calibrated_checkpoint, tiny_onnx, photo_factory
) -> None:
    photos = [str(photo_factory(f"p{i}.jpg", size=(60, 45), seed=i)) for i in range(3)]
    broken = photo_factory("broken.jpg")
    broken.write_bytes(b"not a photo")

    def run(model: Path) -> list[dict]:
        r = CliRunner().invoke(
            cli,
            [
                "predict",
                *photos,
                str(broken),
                "-m",
                str(model),
                "-f",
                "json",
                "-q",
                "-k",
                "5",
                "--precision",
                "fp32",
            ],
        )
        assert r.exit_code == 1  # the broken photo, after all others
        return json.loads(r.stdout)

    ref, got = run(calibrated_checkpoint), run(tiny_onnx)
    assert [r["path"] for r in got] == [*photos, str(broken)] and "error" in got[-1]
    for a, b in zip(ref[:-1], got[:-1], strict=True):
        assert [h["tag"] for h in a["hashtags"]] == [h["tag"] for h in b["hashtags"]]
        assert [h["score"] for h in a["hashtags"]] == pytest.approx(
            [h["score"] for h in b["hashtags"]], abs=1e-4
        )


def test_openvino_folder_matches_pytorch(calibrated_checkpoint: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino", reason="OpenVINO export needs hashtagger[openvino]")
    r = CliRunner().invoke(
        cli, ["export", str(calibrated_checkpoint), "-f", "openvino", "-o", str(tmp_path / "ov")]
    )
    assert r.exit_code == 0, r.output
    assert "parity vs PyTorch fp32, batch 1: max |diff|" in r.stderr
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == [
        "hashtagger.json",
        "model.bin",
        "model.xml",
    ]
    for p in _parity(str(calibrated_checkpoint), tmp_path / "ov"):
        assert p.ok, p.line()
    tagger = load_tagger(tmp_path / "ov")
    assert tagger.describe()["precision"] == "fp32"  # pinned, never a silent bf16


@pytest.mark.slow  # exports the default model; its shipped graph's parity is test_builtin_graph.py's
def test_zeroshot_exports_whole_scoring_path(tmp_path: Path) -> None:
    """Backbone, ConSE mixing and the blend in one graph (`scores`, for any tool), plus `content`, which
    hashtagger ranks with the model's own rules: the export answers what PyTorch answers, parts included."""
    import onnxruntime as ort

    out = tmp_path / "zs.onnx"
    r = CliRunner().invoke(cli, ["export", "zeroshot", "-o", str(out), "--prior-weight", "0.4"])
    assert r.exit_code == 0, r.output
    ref = load_tagger("zeroshot", prior_weight=0.4, runtime="torch")
    exported = load_tagger(out)
    assert exported.vocabulary == ref.vocabulary and exported.kind == "zeroshot"
    assert exported.default_threshold == pytest.approx(ref.default_threshold)
    batch = synthetic_batch(ref.preprocessing, 3, seed=7)
    blend = ref.blend_scores(ref.visual_scores(torch.from_numpy(batch))).numpy()  # before the ranking rules
    raw = ort.InferenceSession(str(out)).run(["scores"], {"images": batch})[0]
    assert compare(blend, raw).ok and np.allclose(raw.sum(axis=1), 1.0, atol=1e-4)  # still a distribution
    ranked, parts = ref.score_explained(batch)
    mine, my_parts = exported.score_explained(batch)
    p = compare(ranked, mine)
    assert p.ok, p.line()
    assert np.array_equal(parts.reach, my_parts.reach)  # reach tags held back the same way
    top = int(np.argmax(mine[0]))
    assert (
        my_parts.row(0).explain(top, exported.vocabulary).keys()
        == parts.row(0).explain(top, ref.vocabulary).keys()
    )


@pytest.mark.slow  # exports the default model; test_zeroshot_exports_whole_scoring_path is the quick run's
def test_profile_reranks_a_zeroshot_export_like_the_pytorch_model(tmp_path: Path) -> None:
    from hashtagger.profile import apply_profile

    out = tmp_path / "zs.onnx"
    assert CliRunner().invoke(cli, ["export", "zeroshot", "-o", str(out)]).exit_code == 0
    posts = tmp_path / "posts.txt"
    posts.write_text("#surf #beach #sunset\n#surf #wave\n#surf #ocean #beach\n" * 5)
    ref = apply_profile(load_tagger("zeroshot", runtime="torch"), posts)
    exported = apply_profile(load_tagger(out), posts)
    batch = synthetic_batch(ref.preprocessing, 2, seed=3)
    p = compare(ref.score(batch), exported.score(batch))
    assert p.ok, p.line()
    assert exported.describe()["kind"] == "zeroshot" and exported.social.source != "HARRISON"


@pytest.mark.slow  # ONNX and OpenVINO int8 calibration; the fp32 exports run in the quick run
def test_int8_export_is_asked_for_and_labelled(
    calibrated_checkpoint: Path, tmp_path: Path, photo_factory
) -> None:
    for i in range(6):
        photo_factory(f"calib/{i}.jpg", size=(50, 40), seed=20 + i)
    out = tmp_path / "q.onnx"
    r = CliRunner().invoke(cli, ["export", str(calibrated_checkpoint), "-o", str(out), "--precision", "int8"])
    assert r.exit_code != 0 and "--calibration" in r.output
    ov = [
        "export",
        str(calibrated_checkpoint),
        "-o",
        str(tmp_path / "ov"),
        "-f",
        "openvino",
        "--precision",
        "int8",
    ]
    r = CliRunner().invoke(cli, [*ov, "--calibration", str(tmp_path / "calib")])
    assert r.exit_code != 0 and "ONNX exports only" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "ov").exists()
    r = CliRunner().invoke(
        cli,
        [
            "export",
            str(calibrated_checkpoint),
            "-o",
            str(out),
            "--precision",
            "int8",
            "--calibration",
            str(tmp_path / "calib"),
        ],
    )
    assert r.exit_code == 0, r.output
    tagger = load_tagger(out)
    assert tagger.weights == "int8"
    graph = onnx.load(str(out)).graph
    made_by = {o: n for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type in ("Conv", "Gemm")]

    def quantised(node: onnx.NodeProto) -> bool:  # its weight arrives through a DequantizeLinear
        producer = made_by.get(node.input[1])
        return producer is not None and producer.op_type == "DequantizeLinear"

    # the convolutions feeding a ReLU are int8; the first one, those feeding a residual sum and the
    # classifier stay fp32 (the recipe that kept the zero-shot model within 1 point)
    assert any(quantised(n) for n in convs)
    assert not quantised(convs[0]) and not quantised(convs[-1])
    assert sum(quantised(n) for n in convs) < len(convs) // 2


def test_export_refusals_are_one_line(calibrated_checkpoint: Path, tmp_path: Path) -> None:
    from hashtagger.export.run import export_model

    with pytest.raises(InputError, match="ending in .onnx"):
        export_model(str(calibrated_checkpoint), "onnx", tmp_path / "model.bin")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="not an earlier export"):
        export_model(str(calibrated_checkpoint), "openvino", tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_failed_parity_writes_nothing(calibrated_checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    import hashtagger.export.run as run

    real = run.compare
    monkeypatch.setattr(run, "compare", lambda a, b: real(a, b + 1e-3))
    with pytest.raises(ExportError, match="nothing written"):
        run.export_model(str(calibrated_checkpoint), "onnx", tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_missing_runtime_is_one_line(tiny_onnx: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hashtagger\[onnx\]'"):
        load_tagger(tiny_onnx)


def test_near_ties_do_not_count_as_a_different_top_k() -> None:
    ref = np.array([[0.50, 0.30, 0.30 + 5e-5, 0.1]])
    assert other_top_k_rows(ref, ref[:, [0, 2, 1, 3]] * 0 + np.array([[0.5, 0.30 + 6e-5, 0.3, 0.1]]), 3) == 0
    assert other_top_k_rows(ref, np.array([[0.3, 0.5, 0.3, 0.1]]), 2) == 1


@pytest.mark.slow
def test_tagging_with_an_export_never_imports_torch(tiny_onnx: Path, photo_factory) -> None:
    photo = photo_factory("one.jpg")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hashtagger", "predict", str(photo), "-m", str(tiny_onnx)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("#"), proc.stderr[-500:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "onnxruntime" in imported  # the import log was read
    assert not imported & {"torch", "torchvision", "timm"}


def test_evaluate_runs_an_export_and_refuses_to_calibrate_it(
    tiny_onnx: Path, photo_factory, tmp_path
) -> None:
    rows = ["path,tags,split"]
    for i, tag in enumerate(["beach", "dog", "sun", "beach"]):
        photo_factory(f"set/{i}.jpg", seed=40 + i)
        rows.append(f"{i}.jpg,{tag},validation")
    (tmp_path / "set" / "labels.csv").write_text("\n".join(rows) + "\n")
    args = [
        "evaluate",
        "-m",
        str(tiny_onnx),
        "-d",
        str(tmp_path / "set" / "labels.csv"),
        "--split",
        "validation",
    ]
    r = CliRunner().invoke(cli, [*args, "-f", "json", "-q"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["models"][0]
    assert row["kind"] == "classifier" and row["vocabulary_size"] == 12 and row["thresholds"] == "calibrated"
    r = CliRunner().invoke(cli, [*args, "--calibrate", "-q"])
    assert r.exit_code == 1 and "is an export" in r.output


@pytest.mark.slow  # exports the default model; crafted exports are refused in test_export_crafted.py
def test_damaged_ranking_metadata_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "zs.onnx"
    assert CliRunner().invoke(cli, ["export", "zeroshot", "-o", str(out)]).exit_code == 0
    model = onnx.load(str(out))
    for prop in model.metadata_props:
        if prop.key == "hashtagger.label_embeddings":
            prop.value = '{"shape": [3, 2], "float32_base64": "not base64!"}'
    onnx.save(model, str(out))
    with pytest.raises(CheckpointError, match="label_embeddings is damaged"):
        load_tagger(out)


def test_an_export_scores_a_large_batch_in_passes_like_one_photo_at_a_time(tiny_onnx: Path) -> None:
    tagger = load_tagger(tiny_onnx)
    batch = synthetic_batch(tagger.preprocessing, 19, seed=11)  # more than one pass of 8
    whole = tagger.score(batch)
    singles = np.concatenate([tagger.score(batch[i : i + 1]) for i in range(len(batch))])
    assert whole.shape == (19, len(tagger.vocabulary)) and np.allclose(whole, singles, atol=1e-6)
