"""Where `export` writes: never over what it did not write, a default name, and a failure keeps the earlier
export; and a full disk under standard output is one line for every command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hashtagger.cli import cli
from hashtagger.errors import InputError

pytest.importorskip("onnx", reason="ONNX export needs hashtagger[onnx]")
pytest.importorskip("onnxruntime", reason="ONNX models need hashtagger[onnx]")


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _export(*args: str) -> object:
    return CliRunner().invoke(cli, ["export", *args, "-q"])


def test_a_users_folder_holding_a_hashtagger_json_is_never_replaced(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "keep.txt").write_text("keep\n")
    (d / "hashtagger.json").write_text("{}\n")
    r = _export("zeroshot", "--format", "openvino", "-o", str(d))
    assert r.exit_code == 1 and "not an earlier export (it holds keep.txt)" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and _tree(d) == {
        "hashtagger.json": b"{}\n",
        "keep.txt": b"keep\n",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no work folder left behind


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ({"hashtagger.json": "{}"}, "its hashtagger.json is not one hashtagger wrote"),
        ({"model.xml": "<x/>", "model.bin": ""}, "its hashtagger.json is not one hashtagger wrote"),
        ({"hashtagger.json": '{"format": "hashtagger-export"}'}, "not one hashtagger wrote"),
        ({"model.xml": "<x/>", "notes": ""}, "it holds notes"),
    ],
)
def test_only_a_folder_holding_just_an_earlier_export_may_be_replaced(tmp_path: Path, files, why) -> None:
    from hashtagger.export.target import check_target

    d = tmp_path / "ov"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    with pytest.raises(InputError, match=why):
        check_target(d, "openvino")
    (d / "sub").mkdir()
    with pytest.raises(InputError, match="sub"):
        check_target(d, "openvino")


def test_an_onnx_export_never_replaces_a_file_or_link_it_did_not_write(
    tmp_path: Path, tiny_onnx: Path
) -> None:
    from hashtagger.export.target import check_target

    mine = tmp_path / "mine.onnx"
    mine.write_text("my notes")
    r = _export("zeroshot", "-o", str(mine))
    assert r.exit_code == 1 and "exists and is not an earlier hashtagger export" in r.stderr
    assert mine.read_text() == "my notes"
    link = tmp_path / "link.onnx"
    link.symlink_to(tiny_onnx)
    with pytest.raises(InputError, match="is a link"):
        check_target(link, "onnx")
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        check_target(tmp_path / "dir.onnx", "onnx")
    check_target(tiny_onnx, "onnx")  # an earlier export may be replaced


def test_a_foreign_onnx_model_is_not_replaced(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, save

    from hashtagger.export.target import check_target

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "theirs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    save(helper.make_model(graph), str(tmp_path / "theirs.onnx"))
    with pytest.raises(InputError, match="not an earlier hashtagger export"):
        check_target(tmp_path / "theirs.onnx", "onnx")


def test_export_without_o_writes_the_model_name_here(
    calibrated_checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    from hashtagger.models import load_tagger

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-openvino").mkdir()
    (tmp_path / "tiny-openvino" / "mine.txt").write_text("keep")
    r = _export(str(calibrated_checkpoint), "--format", "openvino")  # the default is a user's folder
    assert r.exit_code == 1 and "tiny-openvino" in r.stderr
    assert (tmp_path / "tiny-openvino" / "mine.txt").read_text() == "keep"
    r = _export(str(calibrated_checkpoint))
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "tiny.onnx" and len(load_tagger(tmp_path / "tiny.onnx").vocabulary) == 12
    r = _export(str(calibrated_checkpoint))  # again: its own earlier export is replaced
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-openvino", "tiny.onnx"]


@pytest.mark.slow  # two OpenVINO exports; test_export_without_o covers replacing an earlier export
def test_a_failed_rename_leaves_the_earlier_openvino_export_intact(
    calibrated_checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    pytest.importorskip("openvino", reason="OpenVINO exports need hashtagger[openvino]")
    import hashtagger.export.target as target
    from hashtagger.errors import OutputError
    from hashtagger.export.run import export_model

    out = tmp_path / "ov"
    export_model(str(calibrated_checkpoint), "openvino", out)
    before = _tree(out)
    real = os.replace

    def replace(src, dst):  # noqa: ANN001, ANN202 - the new export cannot be renamed into place
        if Path(dst) == out and "previous" not in str(src):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(target.os, "replace", replace)
    with pytest.raises(OutputError, match="no space left"):
        export_model(str(calibrated_checkpoint), "openvino", out)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ov"]


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")


@needs_dev_full
@pytest.mark.parametrize("args", [["models"], ["export", "--help"], ["--version"]], ids=" ".join)
def test_a_full_standard_output_is_one_line(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "hashtagger", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "Error: no space left on the device for /dev/full; free some space and run again"
    )
