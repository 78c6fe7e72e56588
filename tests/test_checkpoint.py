"""Classifier checkpoints: self-describing, safe to load, one-line errors for bad files; backbone weights."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from hashtagger.errors import CheckpointError, MissingDependencyError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models import load_tagger
from hashtagger.models.backbones import create_backbone
from hashtagger.models.checkpoint import load_checkpoint, save_checkpoint
from hashtagger.models.classifier import ClassifierTagger, architecture, build_classifier

VOCAB = ["beach", "sun", "dog"]


@pytest.fixture(scope="module")
def model():
    return build_classifier("resnet18", "none", len(VOCAB), 0.7)


def payload(model, **extra) -> dict:
    pre = Preprocessing(size=32)
    return {
        "kind": "classifier",
        "arch": architecture(model, "resnet18"),
        "state_dict": model.state_dict(),
        "vocabulary": VOCAB,
        "preprocessing": pre.to_dict(),
        "config": {"model": {"backbone": "resnet18"}},
        "tag_counts": [5, 3, 1],
        "epoch": 1,
        "metrics": {"map": 0.5},
        **extra,
    }


def test_round_trip_rebuilds_the_tagger(model, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "best.pt", payload(model, thresholds=torch.tensor([0.5, 0.2, 0.9])))
    tagger = load_tagger(path)
    assert isinstance(tagger, ClassifierTagger) and tagger.kind == "classifier"
    assert tagger.vocabulary == VOCAB and tagger.preprocessing.size == 32
    assert tagger.thresholds == pytest.approx([0.5, 0.2, 0.9]) and tagger.tag_counts == [5, 3, 1]
    batch = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    model.eval()
    with torch.no_grad():
        expected = torch.sigmoid(model(tagger.preprocessing.normalize(batch)))
    assert torch.allclose(tagger.tag(batch), expected, atol=1e-5)
    tagger.set_precision("bf16")  # autocast path: same ranking, looser numbers
    assert torch.allclose(tagger.tag(batch), expected, atol=0.05)


def test_checkpoint_without_thresholds(model, tmp_path: Path) -> None:
    tagger = load_tagger(save_checkpoint(tmp_path / "m.pt", payload(model)))
    assert tagger.thresholds is None


def test_incompatible_weights_one_line(model, tmp_path: Path) -> None:
    bad = payload(model, vocabulary=["a", "b"], tag_counts=[1, 1])  # head has 3 outputs, vocabulary 2 tags
    with pytest.raises(CheckpointError, match="do not fit a resnet18 over 2 tags") as e:
        load_tagger(save_checkpoint(tmp_path / "m.pt", bad))
    assert "\n" not in str(e.value)
    wrong = payload(model, thresholds=[0.5])
    with pytest.raises(CheckpointError, match="1 thresholds for 3 tags"):
        load_tagger(save_checkpoint(tmp_path / "t.pt", wrong))
    no_arch = {k: v for k, v in payload(model).items() if k != "arch"}
    with pytest.raises(CheckpointError, match="lacks 'arch'"):
        ClassifierTagger.from_checkpoint(no_arch)


class _Evil:
    """Unpickling this would create a file: a checkpoint must never run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "hashtagger-checkpoint", "kind": "classifier", "payload": _Evil(marker)}, path)
    with pytest.raises(CheckpointError, match="refused") as e:
        load_checkpoint(path)
    assert not marker.exists()
    assert "\n" not in str(e.value)


def test_truncated_and_foreign_files(model, tmp_path: Path) -> None:
    good = save_checkpoint(tmp_path / "good.pt", payload(model))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(truncated)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not a hashtagger checkpoint"):
        load_checkpoint(other)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        load_checkpoint(empty)


def test_save_is_atomic(model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(tmp_path / "last.pt", payload(model))
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, payload(model, epoch=2))
    assert path.read_bytes() == before  # the old checkpoint survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no partial temporary left


def test_backbone_weights_file(tmp_path: Path) -> None:
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)  # torchvision's layout, fc included
    backbone, features = create_backbone("resnet18", str(path))
    assert features == 512
    assert torch.equal(backbone.state_dict()["conv1.weight"], reference.state_dict()["conv1.weight"])

    state = reference.state_dict()
    del state["layer4.1.bn2.weight"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="does not fit this backbone .*missing layer4.1.bn2.weight"):
        create_backbone("resnet18", str(path))
    with pytest.raises(CheckpointError, match="neither 'imagenet', 'none' nor an existing weights file"):
        create_backbone("resnet18", str(tmp_path / "nope.pth"))


def test_resnet18_imagenet_missing_says_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(MissingDependencyError) as e:
        create_backbone("resnet18", "imagenet")
    message = str(e.value)
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "model.pretrained=/path/to/resnet18.pth" in message and "\n" not in message


def test_resnet18_imagenet_from_the_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    reference = torchvision.models.resnet18(weights=None)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    backbone, _ = create_backbone("resnet18", "imagenet")
    assert torch.equal(backbone.state_dict()["conv1.weight"], reference.state_dict()["conv1.weight"])
