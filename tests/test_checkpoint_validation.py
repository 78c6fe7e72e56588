"""Crafted checkpoints: every field is checked before use, and each problem is one line naming the field."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from hashtagger.cli import cli
from hashtagger.errors import CheckpointError, InputError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models import load_tagger
from hashtagger.models.checkpoint import FORMAT, load_checkpoint


def _payload(**changes: object) -> dict:
    data = {
        "format": FORMAT,
        "format_version": 1,
        "version": "0",
        "kind": "classifier",
        "arch": {"backbone": "resnet18"},
        "state_dict": {"head.weight": torch.zeros(3, 4), "head.bias": torch.zeros(3)},
        "vocabulary": ["beach", "sun", "dog"],
        "preprocessing": Preprocessing(size=32).to_dict(),
        "config": {},
        "thresholds": [0.5, 0.5, 0.5],
        "tag_counts": [3, 2, 1],
    }
    for key, value in changes.items():
        if key.startswith("pre_"):
            data["preprocessing"][key[4:]] = value
        else:
            data[key] = value
    return data


def _save(tmp_path: Path, data: dict, name: str = "crafted.pt") -> Path:
    path = tmp_path / name
    torch.save(data, path)
    return path


CRAFTED = [
    ({"state_dict": {"head.weight": torch.tensor([[math.nan]])}}, "state_dict['head.weight'] holds NaN"),
    ({"pre_std": [0, 0, 0]}, "preprocessing.std must be above 0"),
    ({"format_version": "1"}, "format_version must be a whole number >= 1, got str '1'"),
    ({"vocabulary": 5}, "vocabulary must be a list of tags, got int 5"),
    ({"vocabulary": "abcde"}, "vocabulary must be a list of tags, got str 'abcde'"),
    ({"vocabulary": ["a", "a", "b"]}, "vocabulary lists the tag 'a' twice"),
    ({"thresholds": ["0.5", "x", "y"]}, "thresholds must hold numbers, got str '0.5'"),
    ({"thresholds": torch.tensor([0.5, math.inf, 0.1])}, "thresholds holds NaN or infinite values"),
    ({"tag_counts": [1, -2, 3]}, "tag_counts must hold whole numbers >= 0"),
    ({"pre_mean": [0.5, 0.5, 0.5, 0.5]}, "preprocessing.mean must be 3 finite numbers"),
    ({"pre_size": 6000}, "preprocessing.size must be a whole number from 1 to 1024, got 6000"),
    ({"pre_size": "224"}, "preprocessing.size must be a whole number"),
    ({"pre_interpolation": "magic"}, "preprocessing.interpolation must be one of"),
    ({"pre_crop_pct": math.nan}, "preprocessing.crop_pct must be a number"),
    ({"config": []}, "config must be a mapping"),
]


@pytest.mark.parametrize(("change", "message"), CRAFTED)
def test_crafted_field_is_one_line_naming_it(tmp_path: Path, change: dict, message: str) -> None:
    path = _save(tmp_path, _payload(**change))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_valid_payload_passes(tmp_path: Path) -> None:
    data = load_checkpoint(_save(tmp_path, _payload()))
    assert data["vocabulary"] == ["beach", "sun", "dog"]


def test_crafted_checkpoint_through_predict(tmp_path: Path) -> None:
    model = _save(tmp_path, _payload(pre_size=6000))
    photo = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(photo)
    r = CliRunner().invoke(cli, ["predict", str(photo), "-m", str(model), "-q"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.strip().count("\n") == 0 and "preprocessing.size" in r.stderr


def test_zip_bomb_is_refused_before_torch_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", b"\0" * (16 << 20))  # 16 MB declared, ~16 KB stored
    assert bomb.stat().st_size < 100_000

    def never(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("torch.load must not run on a zip bomb")

    monkeypatch.setattr(torch, "load", never)
    with pytest.raises(CheckpointError, match=r"declare 16,777,216 bytes in a [\d,]+-byte file"):
        load_checkpoint(bomb)


def test_prior_weight_with_a_checkpoint_is_one_line(tmp_path: Path) -> None:
    path = _save(tmp_path, _payload())
    with pytest.raises(InputError, match="--prior-weight applies to built-in zero-shot models only"):
        load_tagger(path, prior_weight=0.3)
