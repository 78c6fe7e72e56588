"""The default model's shipped ONNX graph: it is the PyTorch model (parity), it runs without PyTorch, and
--runtime picks what runs a model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_photo, run_predict_cli

from hashtagger.export.parity import synthetic_batch
from hashtagger.models import load_tagger
from hashtagger.models.zeroshot import SHIPPED_GRAPHS, shipped_graph

pytest.importorskip("onnxruntime", reason="the shipped graph runs on ONNX Runtime")


@pytest.mark.parametrize("name", sorted(SHIPPED_GRAPHS))
def test_each_shipped_graph_is_the_pytorch_model(name: str) -> None:
    """Fails when a model or its resources changed without `python scripts/build_builtin_models.py`."""
    assert shipped_graph(name) is not None, "run scripts/build_builtin_models.py"
    onnx, ref = load_tagger(name), load_tagger(name, runtime="torch")
    assert type(onnx).__name__ == "ExportedTagger" and not onnx.uses_torch and ref.uses_torch
    assert onnx.vocabulary == ref.vocabulary and onnx.preprocessing == ref.preprocessing
    batch = synthetic_batch(ref.preprocessing, 4, seed=7)
    a, b = onnx.score(batch), ref.score(batch)
    assert np.abs(a - b).max() <= 1e-4
    assert (np.argsort(-a, 1)[:, :10] == np.argsort(-b, 1)[:, :10]).all()
    onnx.set_prior_weight(0.0)
    ref.set_prior_weight(0.0)
    np.testing.assert_allclose(onnx.score(batch), ref.score(batch), atol=1e-4)


def test_the_default_model_tags_a_photo_without_pytorch(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "p.jpg", size=(96, 80))
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` now fails
        "from click.testing import CliRunner\n"
        "from hashtagger.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['predict', {str(photo)!r}, '-q', '--workers', '0'])\n"
        "print(r.exit_code, r.output.strip())\n"
        "r = CliRunner().invoke(cli, ['predict', {p!r}, '--runtime', 'torch'])\n".format(p=str(photo))
        + "print(r.exit_code, r.output.strip())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    first, second = out.stdout.strip().splitlines()
    assert first.startswith("0 #"), out.stdout + out.stderr
    assert second.startswith("1 Error: ") and "hashtagger[torch]" in second


def test_runtime_choices_are_one_line_errors_where_they_cannot_run(
    tmp_path: Path, tiny_onnx: Path, calibrated_checkpoint: Path
) -> None:
    photo = make_photo(tmp_path / "p.jpg")
    vocab = tmp_path / "v.txt"
    vocab.write_text("cat\ndog\n")
    r = run_predict_cli(str(photo), "--vocab", str(vocab), "--runtime", "onnx")
    assert r.exit_code == 1 and "a custom --vocab is embedded by PyTorch" in r.stderr
    r = run_predict_cli(str(photo), "-m", str(tiny_onnx), "--runtime", "torch")
    assert r.exit_code == 1 and "is an export" in r.stderr
    r = run_predict_cli(str(photo), "-m", str(calibrated_checkpoint), "--runtime", "onnx")
    assert r.exit_code == 1 and "is a checkpoint, run by PyTorch" in r.stderr
    r = run_predict_cli(str(photo), "-m", str(tiny_onnx), "--runtime", "openvino")
    assert r.exit_code == 0, r.output
    assert len(r.stderr.strip().splitlines()) <= 1


def test_auto_and_torch_give_the_same_top5(tmp_path: Path) -> None:
    """--runtime torch on a CPU runs the built-in model as its shipped graph does (fp32), so the two agree;
    bf16 stays one option away."""
    photos = [str(make_photo(tmp_path / f"{i}.jpg", size=(96, 80), seed=i)) for i in range(4)]
    auto = run_predict_cli(*photos, "-k", "5", "--device", "cpu")
    torch_run = run_predict_cli(*photos, "-k", "5", "--device", "cpu", "--runtime", "torch")
    assert auto.exit_code == 0 and torch_run.exit_code == 0
    assert auto.stdout == torch_run.stdout
    from hashtagger.models import ModelSpec, open_tagger
    from hashtagger.runtime import RunOptions

    assert open_tagger(ModelSpec(), RunOptions(device="cpu", runtime="torch")).precision == "fp32"
    bf16 = RunOptions(device="cpu", precision="bf16", runtime="torch")
    assert open_tagger(ModelSpec(), bf16).precision == "bf16"
