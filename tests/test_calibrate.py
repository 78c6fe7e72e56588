"""`evaluate --calibrate`: per-tag thresholds fitted on validation, stored in the checkpoint, used by predict.

The checkpoint is a real (random-weight) ResNet-18 classifier, so this also checks the classifier path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from hashtagger.cli import cli
from hashtagger.errors import CheckpointError, InputError
from hashtagger.evaluate.calibrate import fit_calibration, store_thresholds
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models.checkpoint import load_checkpoint, save_checkpoint

VOCAB = ["red", "green", "blue"]
FAST = ["--device", "cpu", "--precision", "fp32", "--workers", "0"]


def test_fit_calibration_by_hand() -> None:
    scores = np.array([[0.9, 0.7], [0.8, 0.2], [0.3, 0.6], [0.1, 0.4]])
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=bool)
    thr, info = fit_calibration(scores, targets, min_positives=2)
    # tag 0 (2 positives): at 0.8 both positives and nothing else -> F1 1.
    # tag 1 (1 positive) gets the global threshold over all 8 scores (positives .9 .8 .6):
    #   t=.6 -> 4 predicted, 3 right: F1 6/7;  t=.8 -> 2 of 2: 4/5;  t=.9 -> 2/4.  Best .6.
    assert thr.tolist() == [0.8, 0.6]
    assert (info["fitted_tags"], info["fallback_tags"], info["fallback_threshold"]) == (1, 1, 0.6)


def test_fit_calibration_needs_a_positive() -> None:
    with pytest.raises(InputError, match="no validation image has a tag"):
        fit_calibration(np.zeros((2, 3)), np.zeros((2, 3), dtype=bool))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight ResNet-18 classifier over VOCAB on 32x32 inputs, saved as a real checkpoint."""
    from hashtagger.models.classifier import architecture, build_classifier

    torch.manual_seed(0)
    model = build_classifier("resnet18", "none", len(VOCAB), 0.0)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(path, {
        "kind": "classifier", "vocabulary": VOCAB, "config": {}, "tag_counts": [4, 2, 2],
        "preprocessing": Preprocessing(size=32, crop_pct=1.0, draft=False).to_dict(),
        "arch": architecture(model, "resnet18"), "state_dict": model.state_dict(),
    })  # fmt: skip
    return path


@pytest.fixture
def checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    """A fresh copy per test: calibration rewrites the file."""
    path = tmp_path / "run" / "best.pt"
    path.parent.mkdir()
    path.write_bytes(tiny_checkpoint.read_bytes())
    return path


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = ["path,split,tags"]
    for split, n in (("train", 4), ("validation", 12), ("test", 6)):
        for i in range(n):
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            tags = " ".join(t for t, c in zip(VOCAB, colour, strict=True) if c > 170) or "sky"
            name = f"{split}{i}.png"
            Image.new("RGB", (32, 32), colour).save(tmp_path / name)
            rows.append(f"{name},{split},{tags}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "labels.csv"


def _scores(checkpoint: Path, paths: list[str]) -> np.ndarray:
    from hashtagger.evaluate.run import score_images
    from hashtagger.models import load_tagger

    return score_images(load_tagger(checkpoint), paths, workers=0).scores


def test_calibrate_stores_thresholds_and_predict_uses_them(checkpoint: Path, manifest: Path) -> None:
    from hashtagger.data import load_dataset
    from hashtagger.evaluate.rows import truth_matrix
    from hashtagger.metrics import fit_thresholds

    r = CliRunner().invoke(
        cli, ["evaluate", "-m", str(checkpoint), "-d", str(manifest), "--calibrate", "-f", "json", *FAST]
    )
    assert r.exit_code == 0, r.output
    assert f"wrote 3 per-tag thresholds into {checkpoint}" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["split"] == "test" and doc["models"][0]["thresholds"] == "calibrated"
    assert doc["calibration"]["split"] == "validation" and doc["calibration"]["images"] == 12
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == ["best.pt"]  # atomic: no temporary left

    ckpt = load_checkpoint(checkpoint)
    ds = load_dataset(manifest)
    val = ds.split("validation")
    expected = fit_thresholds(
        _scores(checkpoint, [str(x.path) for x in val]), truth_matrix([x.tags for x in val], VOCAB)
    )
    assert ckpt["thresholds"] == pytest.approx(expected.tolist(), abs=0)
    assert ckpt["calibration"]["images"] == 12 and ckpt["vocabulary"] == VOCAB

    test_paths = [str(x.path) for x in ds.split("test")]
    raw = _scores(checkpoint, test_paths)
    shown = {}
    for calibrated in (True, False):
        extra = [] if calibrated else ["--no-calibration"]
        p = CliRunner().invoke(
            cli, ["predict", *test_paths, "-m", str(checkpoint), "-f", "jsonl", *FAST, *extra]
        )
        assert p.exit_code == 0, p.output
        for line, s in zip(p.stdout.splitlines(), raw, strict=True):
            got = {h["tag"] for h in json.loads(line)["hashtags"]}
            cuts = ckpt["thresholds"] if calibrated else [-np.inf] * len(VOCAB)
            want = {t for t, v, c in zip(VOCAB, s, cuts, strict=True) if v >= c}
            assert got == want
            shown[calibrated] = shown.get(calibrated, 0) + len(got)
    assert shown[False] == 3 * len(test_paths) > shown[True]  # the thresholds did cut some tags


def test_real_checkpoint_rankings_agree_with_predict(checkpoint: Path, manifest: Path) -> None:
    r = CliRunner().invoke(cli, ["evaluate", "-m", str(checkpoint), "-d", str(manifest), "-f", "json", *FAST])
    got = json.loads(r.stdout)["models"][0]["metrics"]
    from hashtagger.data import load_dataset

    test = load_dataset(manifest).split("test")
    paths = [str(x.path) for x in test]
    p = CliRunner().invoke(cli, ["predict", *paths, "-m", str(checkpoint), "-f", "jsonl", *FAST])
    tops = [[h["tag"] for h in json.loads(line)["hashtags"]] for line in p.stdout.splitlines()]
    for k in (1, 5):
        hits = [len(set(top[:k]) & set(x.tags)) for top, x in zip(tops, test, strict=True)]
        # the json carries 4 significant digits
        assert got[f"accuracy@{k}"] == pytest.approx(np.mean([h > 0 for h in hits]), rel=5e-4)
        assert got[f"recall@{k}"] == pytest.approx(
            np.mean([h / len(x.tags) for h, x in zip(hits, test, strict=True)]), rel=5e-4
        )


def test_calibrate_needs_a_validation_split(checkpoint: Path, tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "a.png")
    (tmp_path / "only.csv").write_text("path,split,tags\na.png,test,red\n")
    before = checkpoint.read_bytes()
    r = CliRunner().invoke(
        cli, ["evaluate", "-m", str(checkpoint), "-d", str(tmp_path / "only.csv"), "--calibrate", *FAST]
    )
    assert r.exit_code == 1
    assert (
        "--calibrate fits thresholds on the validation split, and this dataset has none (splits: test)"
        in r.stderr
    )
    assert checkpoint.read_bytes() == before


def test_store_thresholds_refuses_another_vocabulary(checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match="vocabulary changed"):
        store_thresholds(checkpoint, np.array([0.5, 0.5]), ["red", "blue"], {})
