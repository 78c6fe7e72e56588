"""model.kind bovw_svm: SIFT bag of visual words + linear SVMs, trained through `hashtagger train`.

Synthetic photos of three visually distinct patterns (checkerboards, blobs, stripes, with noise so
SIFT finds keypoints), one tag per pattern, 8 visual words: seconds on a laptop CPU.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image, ImageDraw

pytest.importorskip("cv2", reason="bovw_svm needs the bovw extra (OpenCV)")
pytest.importorskip("sklearn", reason="bovw_svm needs the bovw extra (scikit-learn)")

from hashtagger.cli import cli  # noqa: E402
from hashtagger.errors import CheckpointError, ConfigError, MissingDependencyError  # noqa: E402
from hashtagger.models import load_tagger  # noqa: E402
from hashtagger.models import sift as descriptors  # noqa: E402
from hashtagger.models.checkpoint import load_checkpoint  # noqa: E402
from hashtagger.progress import Progress  # noqa: E402
from hashtagger.train.config import load_config  # noqa: E402
from hashtagger.train.run import run_training  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny-bovw.yaml"
PATTERNS = ("checkers", "blobs", "stripes")


def pattern(kind: str, seed: int, size: int = 96) -> np.ndarray:
    """An HxWx3 uint8 photo of one pattern, randomly placed and noisy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    if kind == "checkers":
        cell = int(rng.integers(8, 14))
        oy, ox = rng.integers(0, cell, 2)
        img = np.stack([(((yy + oy) // cell + (xx + ox) // cell) % 2) * 200.0 + 30] * 3, -1)
    elif kind == "blobs":
        im = Image.new("RGB", (size, size), (40, 40, 40))
        draw = ImageDraw.Draw(im)
        for _ in range(10):
            r = int(rng.integers(4, 10))
            x, y = (int(v) for v in rng.integers(r, size - r, 2))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(230, 200, 60))
        img = np.asarray(im).astype(np.float64)
    else:
        period = int(rng.integers(10, 16))
        wave = (np.sin(2 * np.pi * (xx + yy) / period + rng.uniform(0, 6)) > 0) * 180.0 + 40
        img = np.stack([wave * 0.3, wave, wave * 0.6], -1)
    img = img + rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 training + 1 validation photo per pattern, a held-out one per pattern, an undecodable file."""
    root = tmp_path_factory.mktemp("bovw-photos")
    lines = ["path,tags,split"]
    for p, kind in enumerate(PATTERNS):
        for i in range(5):
            name = f"{kind}{i}.png"
            Image.fromarray(pattern(kind, 100 * p + i)).save(root / name)
            lines.append(f"{name},{kind},{'validation' if i == 4 else 'train'}")
        Image.fromarray(pattern(kind, 100 * p + 50)).save(root / f"heldout-{kind}.png")
    (root / "broken.png").write_bytes(b"not a png")
    lines.append("broken.png,blobs,train")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root / "labels.csv"


def settings(photos: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [f"data.path={photos}", f"out={out}", f"data.cache_dir={cache}", *extra]


class Messages(Progress):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture(scope="module")
def trained(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One run through the real CLI, SIFT in 2 worker processes: (run folder, cache folder)."""
    base = tmp_path_factory.mktemp("bovw-run")
    out, cache = base / "run", base / "cache"
    args = ["train", "--config", str(TINY)]
    for s in settings(photos, out, cache, "bovw.workers=2"):
        args += ["--set", s]
    in_this_process = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(descriptors, "sift_descriptors", lambda *a, **k: in_this_process.append(1))
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"best: {out / 'best.pt'}" in result.stdout
    # SIFT ran in the worker processes (which import the real function), once per decodable photo.
    assert in_this_process == [] and len(list(cache.glob("sift-*/*/*.npy"))) == 15
    return out, cache


def test_train_saves_plain_arrays_and_run_files(trained: tuple[Path, Path]) -> None:
    out, _ = trained
    assert {"config.yaml", "metrics.csv", "last.pt", "best.pt"} <= {p.name for p in out.iterdir()}
    assert not list(out.glob(".*tmp"))
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 1 and rows[0]["train_images"] == "12" and rows[0]["skipped"] == "1"
    assert 0.0 <= float(rows[0]["val_map"]) <= 1.0
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt["kind"] == "bovw_svm" and sorted(ckpt["vocabulary"]) == sorted(PATTERNS)
    assert ckpt["centroids"].shape == (8, 128) and ckpt["centroids"].dtype == torch.float32
    assert ckpt["svm_weights"].shape == (3, 8) and ckpt["svm_bias"].shape == (3,)
    assert ckpt["preprocessing"]["size"] == 96 and ckpt["config"]["model"]["kind"] == "bovw_svm"

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (str, int, float, bool, torch.Tensor))

    assert plain(ckpt)
    last = load_checkpoint(out / "last.pt")
    assert torch.equal(last["svm_weights"], ckpt["svm_weights"])


def test_predict_ranks_the_right_tag_first(trained: tuple[Path, Path], photos: Path) -> None:
    out, _ = trained
    tagger = load_tagger(out / "best.pt")
    assert tagger.kind == "bovw_svm" and tagger.default_threshold == 0.0
    batch = torch.from_numpy(
        np.stack([tagger.preprocessing.load_array(photos.parent / f"heldout-{k}.png") for k in PATTERNS])
    )
    scores = tagger.tag(batch)
    assert scores.shape == (3, 3) and scores.dtype == torch.float32
    assert [tagger.vocabulary[i] for i in scores.argmax(1).tolist()] == list(PATTERNS)

    # The same through the CLI, as a user runs it.
    paths = [str(photos.parent / f"heldout-{k}.png") for k in PATTERNS]
    result = CliRunner().invoke(
        cli, ["predict", *paths, "--model", str(out / "best.pt"), "--format", "jsonl", "--no-hash"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["hashtags"][0]["tag"] for r in rows] == list(PATTERNS)


def test_training_and_prediction_see_the_same_descriptors(trained: tuple[Path, Path], photos: Path) -> None:
    """What the worker processes cached equals what `tag` computes from the predict pipeline's array."""
    from hashtagger.cache import file_digest

    out, cache_root = trained
    tagger = load_tagger(out / "best.pt")
    cache = descriptors.DescriptorCache(
        cache_root,
        tagger.preprocessing,
        tagger.max_features,
        load_checkpoint(out / "best.pt")["arch"]["opencv"],
    )
    for name in ("checkers0.png", "blobs4.png", "stripes2.png"):
        path = photos.parent / name
        cached = cache.get(file_digest(path))
        fresh = descriptors.sift_descriptors(tagger.preprocessing.load_array(path), tagger.max_features)
        assert cached is not None and len(cached) > 0 and np.array_equal(cached, fresh)


def test_descriptor_cache_is_used_on_a_second_run(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = descriptors.sift_descriptors

    def counting(image: np.ndarray, max_features: int = 0) -> np.ndarray:
        calls.append(1)
        return real(image, max_features)

    monkeypatch.setattr(descriptors, "sift_descriptors", counting)
    cache = tmp_path / "cache"
    first, second = Messages(), Messages()
    a = run_training(TINY, settings(photos, tmp_path / "a", cache), progress=first)
    assert len(calls) == 15  # every decodable photo once; the broken one fails before SIFT
    assert any("(0 of 16 photos cached)" in line for line in first.lines)
    calls.clear()
    b = run_training(TINY, settings(photos, tmp_path / "b", cache, "bovw.svm_c=0.5"), progress=second)
    assert calls == []
    assert any("(15 of 16 photos cached)" in line for line in second.lines)
    assert a.best_value is not None and b.best_value is not None
    assert any("could not be decoded" in line and "broken.png" in line for line in second.lines)


def test_loading_never_unpickles(
    trained: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = trained
    seen = []
    real_load = torch.load

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_tagger(out / "best.pt")
    assert seen == [True]
    monkeypatch.setattr(torch, "load", real_load)

    # A bovw checkpoint carrying a pickled object is refused, and the object's code never runs.
    ckpt = load_checkpoint(out / "best.pt")
    ckpt["arch"] = {**ckpt["arch"], "payload": _RunsOnUnpickle()}
    evil = tmp_path / "evil.pt"
    torch.save(ckpt, evil)
    with pytest.raises(CheckpointError, match="refused"):
        load_tagger(evil)
    assert not _RunsOnUnpickle.ran


class _RunsOnUnpickle:
    ran = False

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_mark_ran, ())


def _mark_ran() -> None:
    _RunsOnUnpickle.ran = True


@pytest.mark.parametrize("module", ["cv2", "sklearn"])
def test_missing_extra_is_a_clear_message(
    module: str, photos: Path, trained: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import -> ImportError
    args = ["train", "--config", str(TINY)]
    for s in settings(photos, tmp_path / "run", tmp_path / "cache"):
        args += ["--set", s]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert (
        "model.kind bovw_svm needs OpenCV and scikit-learn: pip install 'hashtagger[bovw]'" in result.output
    )
    assert not (tmp_path / "run").exists()
    if module == "cv2":  # prediction needs OpenCV only
        with pytest.raises(MissingDependencyError, match=r"hashtagger\[bovw\]"):
            load_tagger(trained[0] / "best.pt")
    else:
        assert load_tagger(trained[0] / "best.pt").kind == "bovw_svm"


def test_tag_without_positives_gets_a_constant_low_score() -> None:
    from hashtagger.train.bovw import CONSTANT_SCORE, fit_svms

    rng = np.random.default_rng(0)
    hist = rng.random((20, 5)).astype(np.float32)
    targets = np.zeros((20, 3), bool)
    targets[:10, 0] = True
    targets[:, 2] = True
    weights, bias, constant = fit_svms(hist, targets, 1.0)
    assert constant == [1, 2]
    assert not weights[1].any() and bias[1] == -CONSTANT_SCORE and bias[2] == CONSTANT_SCORE
    assert weights[0].any()


def test_config_keys_are_checked(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "configs" / "clothing-bovw.yaml")
    assert cfg.model.kind == "bovw_svm" and cfg.bovw.clusters == 100 and cfg.out == "runs/clothing-bovw"
    assert cfg.data.path == "../shared/data/clothing-small/labels.csv"
    for override, message in [
        ("bovw.cluster=8", "unknown config key 'bovw.cluster' (valid keys in bovw: clusters,"),
        ("bovw.clusters=1", "config key 'bovw.clusters': 1 is below the minimum 2"),
        ("bovw.kmeans=fast", "config key 'bovw.kmeans': 'fast' is not one of auto, full, minibatch"),
        ("model.kind=svm", "config key 'model.kind': 'svm' is not one of classifier, bovw_svm"),
    ]:
        with pytest.raises(ConfigError) as e:
            load_config(None, [override])
        assert message in str(e.value)


def test_resume_of_a_bovw_run_says_what_to_do(trained: tuple[Path, Path]) -> None:
    with pytest.raises(CheckpointError, match="bovw_svm run has no epochs to resume"):
        run_training(None, resume=trained[0] / "last.pt")


def test_too_few_descriptors_for_k(photos: Path, tmp_path: Path) -> None:
    from hashtagger.errors import DatasetError

    with pytest.raises(DatasetError, match=r"fewer than bovw\.clusters = 100000"):
        run_training(TINY, settings(photos, tmp_path / "run", tmp_path / "cache", "bovw.clusters=100000"))
