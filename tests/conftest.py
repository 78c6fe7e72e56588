"""Shared fixtures and helpers: small photos and datasets made on the fly (no files from ../shared needed).

Two kinds of things live here, and the rule for using them is:
- fixtures (`fake_model`, `register_fake`, `photo_factory`, `tiny_checkpoint`, ...) are requested as test
  arguments, never imported;
- plain helpers and constants (`make_photo`, `write_manifest`, `write_harrison`, `run_predict_cli`,
  `registered_fakes`, `ColourTagger`, `VOCAB`, `EXPORT_VOCAB`, ...) may be imported with
  `from conftest import ...`.

A fake model goes in one way, the way users add models: through the model registry (`register_fake`, and
`fake_model` on top of it for the default model), never by monkeypatching loaders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hashtagger.image.preprocess import Preprocessing
from hashtagger.models.base import Tagger

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
VOCAB = ["red", "green", "blue"]


class ColourTagger(Tagger):
    """A tiny, exact fake model for tests: scores = mean of each colour channel / 255, no weights."""

    kind = "colour"

    def __init__(self, thresholds: list[float] | None = None) -> None:
        self.vocabulary = list(VOCAB)
        self.preprocessing = Preprocessing(size=8, crop_pct=1.0, draft=False)
        self.thresholds = thresholds
        self.name = "fake"
        self.calls = 0

    def tag(self, batch: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return batch.float().mean(dim=(2, 3)) / 255.0


@dataclass
class FakeModel:
    """What the fake_model fixture gives a test: the one tagger every load returns, and the names loaded."""

    tagger: ColourTagger
    loaded: list[str]


@pytest.fixture
def fake_model(register_fake) -> FakeModel:  # noqa: ANN001
    """The default model ("zeroshot") registered as a ColourTagger, so predict's CLI tests run in
    milliseconds; the real entry is registered again after the test."""
    fake = FakeModel(ColourTagger(), [])

    def make() -> ColourTagger:
        fake.loaded.append("zeroshot")
        return fake.tagger

    register_fake("zeroshot", make)
    return fake


def run_predict_cli(*args: str, input: str | bytes | None = None):  # noqa: A002, ANN201
    """`hashtagger predict ARGS --quiet --workers 0` through click's test runner."""
    from click.testing import CliRunner

    from hashtagger.cli import cli

    return CliRunner().invoke(cli, ["predict", *args, "--quiet", "--workers", "0"], input=input)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Every cache (splits, features, embeddings) under a temp folder: tests never write into ~/.cache."""
    import os

    before = os.environ.get("HASHTAGGER_CACHE")
    os.environ["HASHTAGGER_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("HASHTAGGER_CACHE", None)
    else:
        os.environ["HASHTAGGER_CACHE"] = before


def make_photo(
    path: Path, size: tuple[int, int] = (48, 40), seed: int = 0, mode: str = "RGB", **save: object
) -> Path:
    """Write a small random-coloured photo; the format follows the suffix."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    im = Image.fromarray(arr, "RGB")
    if mode != "RGB":
        im = im.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **save)
    return path


def write_manifest(root: Path, tags: list[str], validation: int, extra: tuple[str, ...] = ()) -> Path:
    """root/labels.csv over random photos img0.jpg... (tags[i] each), the last `validation` of them in the
    validation split, then `extra` manifest lines as they are (files the test makes, or leaves missing)."""
    lines = ["path,tags,split"]
    for i, t in enumerate(tags):
        make_photo(root / f"img{i}.jpg", seed=i)
        lines.append(f"img{i}.jpg,{t},{'validation' if i >= len(tags) - validation else 'train'}")
    (root / "labels.csv").write_text("\n".join([*lines, *extra]) + "\n")
    return root / "labels.csv"


def write_harrison(root: Path, rows: list[tuple[str, str]], vocab: list[str] | None = None) -> Path:
    """root as a HARRISON metadata folder: data_list.txt and tag_list.txt aligned line by line from
    rows (photo path, space-separated tags), each tag line ending in HARRISON's trailing space, and with
    `vocab` a vocab_index.txt in its '<word><spaces><rank>' layout. No photos are written."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data_list.txt").write_text("".join(f"{p}\n" for p, _ in rows), encoding="utf-8")
    (root / "tag_list.txt").write_text("".join(f"{t} \n" for _, t in rows), encoding="utf-8")
    if vocab is not None:
        lines = "".join(f"{w:<22}{i}\n" for i, w in enumerate(vocab))
        (root / "vocab_index.txt").write_text(lines, encoding="utf-8")
    return root


@pytest.fixture
def photo_factory(tmp_path: Path):
    """make(name, **kw) -> path of a new small photo under tmp_path."""

    def make(name: str, **kw: object) -> Path:
        return make_photo(tmp_path / name, **kw)

    return make


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when it is absent (fresh clone elsewhere)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


TINY_VOCAB = ["beach", "sun", "dog", "cat", "food", "city"]


def save_classifier_checkpoint(path: Path, vocabulary: list[str], **extra: object) -> Path:
    """A real classifier checkpoint: random ResNet-18 (seed 0) at 32x32 inputs over vocabulary;
    extra adds payload keys (thresholds, tag_counts, ...)."""
    from hashtagger.models.checkpoint import save_checkpoint
    from hashtagger.models.classifier import architecture, build_classifier

    torch.manual_seed(0)
    model = build_classifier("resnet18", "none", len(vocabulary), 0.7)
    payload = {
        "kind": "classifier",
        "arch": architecture(model, "resnet18"),
        "state_dict": model.state_dict(),
        "vocabulary": vocabulary,
        "preprocessing": Preprocessing(size=32).to_dict(),
        "config": {"model": {"backbone": "resnet18"}},
        **extra,
    }
    return save_checkpoint(path, payload)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real classifier checkpoint (random ResNet-18, 32x32 inputs, 6 tags): fast to load anywhere,
    including in other processes such as Ray workers, which load it by path like a user's checkpoint."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    n = len(TINY_VOCAB)
    return save_classifier_checkpoint(path, TINY_VOCAB, tag_counts=[1] * n, epoch=1, metrics={})


EXPORT_VOCAB = ["beach", "sun", "dog", "cat", "food", "city", "snow", "car", "tree", "sky", "night", "art"]


@pytest.fixture(scope="session")
def calibrated_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight ResNet-18 classifier over EXPORT_VOCAB at 32x32, with per-tag thresholds."""
    path = tmp_path_factory.mktemp("calibrated") / "tiny.pt"
    thresholds = torch.linspace(0.1, 0.6, len(EXPORT_VOCAB))
    return save_classifier_checkpoint(path, EXPORT_VOCAB, thresholds=thresholds)


@pytest.fixture(scope="session")
def tiny_onnx(calibrated_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """calibrated_checkpoint exported to ONNX (skips without onnx + onnxruntime)."""
    pytest.importorskip("onnx", reason="ONNX export needs hashtagger[onnx]")
    pytest.importorskip("onnxruntime", reason="ONNX models need hashtagger[onnx]")
    from hashtagger.export.run import export_model

    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    return export_model(str(calibrated_checkpoint), "onnx", out).path


@contextmanager
def registered_fakes() -> Iterator[Callable[..., object]]:
    """Yields register(name, make, file=None), which registers a fake model whose loader returns make();
    on exit each name is removed, or the entry it replaced (e.g. the real "zeroshot") is put back in place."""
    from hashtagger.models.registry import ModelEntry, list_models, register_model, unregister_model

    replaced: dict[str, ModelEntry | None] = {}

    def register(name: str, make, file: Path | None = None):  # noqa: ANN001, ANN202
        """A built-in model `name`; with `file`, an exported-model kind that claims exactly that file."""
        if name not in replaced:
            replaced[name] = next((e for e in list_models() if e.name == name), None)
        if file is not None:
            return register_model(
                name,
                role="exported",
                description=f"test fake {name}",
                loader=lambda path, runtime="auto": make(),
                matches=lambda path: Path(path).resolve() == Path(file).resolve(),
            )
        return register_model(
            name,
            role="builtin",
            description=f"test fake {name}",
            loader=lambda vocabulary=None, prior_weight=None, runtime="auto": make(),
        )

    try:
        yield register
    finally:
        for name, entry in replaced.items():
            if entry is None:
                unregister_model(name)
            else:  # replacing in place keeps the registry's order (`hashtagger models` lists in it)
                register_model(**{f.name: getattr(entry, f.name) for f in fields(entry)})


@pytest.fixture
def register_fake():
    """register(name, make) -> registers a built-in model whose loader returns make(), for this test only.

    Tests swap in models the way users add them: through the model registry, never by monkeypatching loaders.
    """
    with registered_fakes() as register:
        yield register


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch):
    """Tiny models run faster on one thread, and a busy machine's spinning OpenMP threads cost seconds."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
