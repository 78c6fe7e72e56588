"""`hashtagger train`: smoke run, exact resume, two gloo processes, feature cache, bad input.

Tiny on purpose: ResNet-18 with random weights (`configs/tiny.yaml`) on 32-pixel synthetic photos,
a dozen images, batch 4. Quality is not the point; the plumbing is.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import run_predict_cli, write_manifest

from hashtagger.cli import cli
from hashtagger.models.checkpoint import load_checkpoint
from hashtagger.progress import Progress
from hashtagger.train.engine import Amp, NonFiniteLossError, train_one_epoch
from hashtagger.train.run import run_training

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"
TAGS = ["beach sun", "dog", "beach", "cat dog", "sun", "food", "cat", "food sun"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 training + 4 validation photos with 1-2 tags each, and one undecodable training file."""
    root = tmp_path_factory.mktemp("photos")
    (root / "broken.jpg").write_bytes(b"not a jpeg at all")
    return write_manifest(
        root, [TAGS[i % 8] for i in range(16)], validation=4, extra=("broken.jpg,dog,train",)
    )


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest)


def tiny(manifest: Path, out: Path, *extra: str) -> list[str]:
    return [f"data.path={manifest}", f"out={out}", *extra]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


class StopAt(Progress):
    """Sends this process a real SIGINT (Ctrl-C) after a given epoch or a given step."""

    def __init__(self, epoch: int | None = None, step: int | None = None) -> None:
        self.epoch, self.step, self.steps = epoch, step, 0

    def epoch_end(self, row: dict) -> None:
        if row["epoch"] == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)

    def __call__(self, stage: str, done: int, total: int | None = None, **status: object) -> None:
        if "loss" in status:  # a training step (validation reports carry no loss)
            self.steps += 1
            if self.steps == self.step:
                os.kill(os.getpid(), signal.SIGINT)


def test_smoke_one_epoch_via_cli(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "--config", str(TINY), "--device", "cpu"]
    for s in tiny(manifest, out, "data.workers=2"):
        args += ["--set", s]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"best: {out / 'best.pt'}" in result.stdout
    assert {"config.yaml", "metrics.csv", "last.pt", "best.pt"} <= {p.name for p in out.iterdir()}
    assert not list(out.glob(".*tmp"))
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 1 and rows[0]["epoch"] == "1"
    assert 0.0 <= float(rows[0]["val_map"]) <= 1.0 and rows[0]["val_accuracy@5"] != ""

    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt["kind"] == "classifier" and ckpt["arch"]["backbone"] == "resnet18"
    assert ckpt["vocabulary"][:2] == ["sun", "beach"] or len(ckpt["vocabulary"]) == 5
    assert ckpt["preprocessing"]["size"] == 32 and "train_state" not in ckpt
    assert ckpt["config"]["data"]["path"] == str(manifest) and len(ckpt["tag_counts"]) == len(
        ckpt["vocabulary"]
    )

    # The checkpoint alone rebuilds the tagger (what `predict --model` does).
    from hashtagger.models import load_tagger

    tagger = load_tagger(out / "best.pt")
    batch = torch.from_numpy(np.stack([tagger.preprocessing.load_array(manifest.parent / "img1.jpg")] * 2))
    scores = tagger.tag(batch)
    assert (
        scores.shape == (2, len(tagger.vocabulary)) and float(scores.min()) >= 0 and float(scores.max()) <= 1
    )


@pytest.mark.slow  # trains twice; a resume runs in test_run_folder.py in the quick run
def test_resume_gives_the_same_weights(manifest: Path, tmp_path: Path) -> None:
    """Uninterrupted 2 epochs == Ctrl-C mid-epoch 1, resume, Ctrl-C after epoch 1, resume."""
    settings = ["train.epochs=2", "data.workers=1"]  # a worker process: seeds must not depend on it
    ref = run_training(TINY, tiny(manifest, tmp_path / "a", *settings), device="cpu")
    assert ref.epochs_done == 2 and not ref.interrupted

    out = tmp_path / "b"
    first = run_training(TINY, tiny(manifest, out, *settings), device="cpu", progress=StopAt(step=2))
    assert first.interrupted and first.epochs_done == 0
    state = load_checkpoint(out / "last.pt")["train_state"]
    assert state["epoch"] == 0 and state["epoch_state"]["batches"] == 2 and state["step"] == 2

    second = run_training(resume=out / "last.pt", device="cpu", progress=StopAt(epoch=1))
    assert second.interrupted and second.epochs_done == 1
    assert load_checkpoint(out / "last.pt")["train_state"]["epoch"] == 1

    third = run_training(resume=out / "last.pt", device="cpu")
    assert third.epochs_done == 2 and not third.interrupted

    a, b = weights(tmp_path / "a" / "last.pt"), weights(out / "last.pt")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows_a = list(csv.DictReader((tmp_path / "a" / "metrics.csv").open()))
    rows_b = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["epoch"] for r in rows_b] == ["1", "2"]
    assert [r["val_map"] for r in rows_a] == [r["val_map"] for r in rows_b]
    assert [r["train_loss"] for r in rows_a] == [r["train_loss"] for r in rows_b]


def test_ctrl_c_exits_cleanly_via_cli(
    manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hashtagger import progress

    original = progress.StderrProgress.epoch_end

    def interrupt(self: progress.StderrProgress, row: dict) -> None:
        original(self, row)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(progress.StderrProgress, "epoch_end", interrupt)
    out = tmp_path / "run"
    args = ["train", "--config", str(TINY)]
    for s in tiny(manifest, out, "train.epochs=3"):
        args += ["--set", s]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 130
    assert "interrupted after epoch 1" in result.stderr and "--resume" in result.stderr
    assert load_checkpoint(out / "last.pt")["train_state"]["epoch"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("inputs", ["images", "cached-features"])
def test_two_processes_gloo(manifest: Path, tmp_path: Path, inputs: str) -> None:
    """torchrun, 2 CPU processes on gloo: DDP over photos, and over the feature cache (shared shares)."""
    out = tmp_path / "ddp"
    extra = ["train.epochs=2"]
    if inputs == "cached-features":
        extra += ["model.freeze_backbone=true", "train.augment=none", f"data.cache_dir={tmp_path / 'cache'}"]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "hashtagger",
        "train",
        "--config",
        str(TINY),
        "--device",
        "cpu",
    ]
    for s in tiny(manifest, out, *extra):
        cmd += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    port_race = ("EADDRINUSE", "address already in use", "Rendezvous")
    if proc.returncode != 0 and any(w in proc.stderr for w in port_race):
        # torchrun --standalone picks a free port by binding, which can race with other processes
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run: ") == 1  # only rank 0 reports
    assert "x2 processes" in proc.stderr
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]  # one writer: no duplicated rows
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 2 and not any(k.startswith("module.") for k in ckpt["state_dict"])
    assert len(ckpt["train_state"]["rng"]) == 2  # each process's random state, for an exact resume
    # 12 training photos (one undecodable) over 2 processes of batch 4: 1 step each per epoch.
    assert ckpt["train_state"]["step"] == 2
    if inputs == "cached-features":
        # Both processes built the same backbone, so they filled one cache folder between them.
        assert len(list((tmp_path / "cache").rglob("*.npy"))) == 16
        assert "1 photo could not be decoded" in proc.stderr  # not half the photos: one cache, not two


@pytest.mark.slow  # trains twice; the next test trains on the cache
def test_frozen_backbone_trains_on_cached_features(manifest: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    settings = [
        "model.freeze_backbone=true",
        "train.augment=none",
        f"data.cache_dir={cache}",
        "train.epochs=2",
    ]
    messages: list[str] = []

    class Capture(Progress):
        def message(self, text: str) -> None:
            messages.append(text)

    first = run_training(TINY, tiny(manifest, tmp_path / "a", *settings), device="cpu", progress=Capture())
    assert first.epochs_done == 2
    files = list(cache.rglob("*.npy"))
    assert len(files) == 16  # every decodable photo once; the broken one is skipped, not fatal
    assert any("0 of 17 photos cached" in m for m in messages)
    assert any("cached features" in m for m in messages)

    messages.clear()
    run_training(TINY, tiny(manifest, tmp_path / "b", *settings), device="cpu", progress=Capture())
    assert any("16 of 17 photos cached" in m for m in messages)  # second run: no backbone pass
    a, b = weights(tmp_path / "a" / "last.pt"), weights(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)  # seeded: the same run twice gives the same weights
    # The frozen backbone is untouched and the checkpoint still tags photos end to end.
    from hashtagger.models import load_tagger

    tagger = load_tagger(tmp_path / "a" / "best.pt")
    assert tagger.tag(torch.zeros(1, 3, 32, 32, dtype=torch.uint8)).shape == (1, len(tagger.vocabulary))


def _train_cli(manifest: Path, out: Path, tmp_path: Path) -> object:
    args = ["train", "--config", str(TINY), "--device", "cpu", "--quiet"]
    frozen = ["model.freeze_backbone=true", "train.augment=none", f"data.cache_dir={tmp_path / 'cache'}"]
    for s in tiny(manifest, out, *frozen):
        args += ["--set", s]
    return CliRunner().invoke(cli, args)


def test_a_trained_model_comes_with_thresholds_so_predict_shows_likely_tags_at_once(
    manifest: Path, tmp_path: Path
) -> None:
    """train -> predict used to print every tag of the vocabulary for every photo until a separate
    `evaluate --calibrate`; training now fits per-tag thresholds on its validation split."""
    # dog on every photo, cat on half, sun on one training photo only: a tag no photo should get.
    tags = [("dog cat", "dog")[i % 2] for i in range(24)]
    tags[3] = "dog sun"
    data = write_manifest(tmp_path / "photos", tags, validation=8)
    out = tmp_path / "run"
    r = _train_cli(data, out, tmp_path)
    assert r.exit_code == 0, r.output
    line = next(x for x in r.stdout.splitlines() if x.startswith("thresholds: "))
    assert re.fullmatch(
        r"thresholds: fitted on 8 validation photos: 3 per-tag thresholds from 0\.\d\d to [01]\.\d\d, "
        r"of which 1 rare tag takes the global 0\.\d\d; stored in best\.pt",
        line,
    ), line
    best = load_checkpoint(out / "best.pt")
    vocab = best["vocabulary"]
    assert sorted(vocab) == ["cat", "dog", "sun"] and len(best["thresholds"]) == 3
    assert best["calibration"]["split"] == "validation" and best["calibration"]["images"] == 8
    assert len(load_checkpoint(out / "last.pt")["thresholds"]) == 3  # each checkpoint: its own weights' fit

    photos = [str(data.parent / f"img{i}.jpg") for i in range(16, 24)]
    shown = run_predict_cli(*photos, "--model", str(out / "best.pt"))
    assert shown.exit_code == 0, shown.output
    rows = [row.split("\t")[1].split() for row in shown.stdout.splitlines()]
    assert len(rows) == 8 and all(1 <= len(row) < 3 and "#sun" not in row for row in rows), shown.stdout
    everything = run_predict_cli(*photos, "--model", str(out / "best.pt"), "--no-calibration")
    assert all(len(row.split("\t")[1].split()) == 3 for row in everything.stdout.splitlines())  # as before


def test_without_a_validation_split_training_says_no_thresholds_were_fitted(tmp_path: Path) -> None:
    data = write_manifest(tmp_path / "photos", [TAGS[i % 8] for i in range(8)], validation=0)
    out = tmp_path / "run"
    r = _train_cli(data, out, tmp_path)
    assert r.exit_code == 0, r.output
    assert (
        "thresholds: none fitted (the data has no validation split); predict shows each photo's top -k tags, "
        "or -t's" in r.stdout.splitlines()
    )
    assert load_checkpoint(out / "best.pt").get("thresholds") is None


def test_bad_config_keys_fail_with_the_key(manifest: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["train", "--config", str(TINY), "--set", "train.epoch=3"])
    assert r.exit_code == 1 and "unknown config key 'train.epoch'" in r.output and "epochs" in r.output
    r = runner.invoke(cli, ["train", "--config", str(TINY), "--set", "train.epochs=two"])
    assert r.exit_code == 1 and "'train.epochs': expected an integer" in r.output
    r = runner.invoke(cli, ["train", "--config", str(TINY)])
    assert r.exit_code == 1 and "data.path" in r.output
    r = runner.invoke(cli, ["train"])
    assert r.exit_code == 2 and "--config" in r.output
    r = runner.invoke(cli, ["train", "--config", str(tmp_path / "none.yaml")])
    assert r.exit_code == 1 and "no such config file" in r.output
    assert "Traceback" not in r.output


def test_bad_resume_files(tmp_path: Path) -> None:
    runner = CliRunner()
    truncated = tmp_path / "truncated.pt"
    good = tmp_path / "good.pt"
    torch.save({"a": torch.zeros(1000)}, good)
    truncated.write_bytes(good.read_bytes()[:300])
    for path, words in [
        (truncated, "not a readable checkpoint"),
        (good, "not a hashtagger checkpoint"),
        (tmp_path / "missing.pt", "no such checkpoint"),
    ]:
        r = runner.invoke(cli, ["train", "--resume", str(path)])
        assert r.exit_code == 1, r.output
        assert words in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_frozen_backbone_without_an_augment_choice_uses_the_feature_cache(
    manifest: Path, tmp_path: Path
) -> None:
    messages: list[str] = []

    class Capture(Progress):
        def message(self, text: str) -> None:
            messages.append(text)

    frozen = ["model.freeze_backbone=true", f"data.cache_dir={tmp_path / 'cache'}"]
    # train.augment left at its default (auto): the new-user config gets the cache, not an epoch-long pass.
    run_training(
        TINY, tiny(manifest, tmp_path / "a", *frozen, "train.augment=auto"), device="cpu", progress=Capture()
    )
    assert any("cached features" in m for m in messages), messages
    assert not any(m.startswith("note: the backbone is frozen") for m in messages)
    messages.clear()
    # tiny.yaml chooses augment: standard: still honoured, and the run says which key turns the cache on.
    run_training(TINY, tiny(manifest, tmp_path / "b", *frozen), device="cpu", progress=Capture())
    notes = [m for m in messages if m.startswith("note: the backbone is frozen")]
    assert len(notes) == 1 and "train.augment=standard" in notes[0] and "--set train.augment=none" in notes[0]
    assert any("(head only)" in m for m in messages) and not any("feature cache:" in m for m in messages)


def test_resume_needs_last_not_best(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_training(TINY, tiny(manifest, out, "model.freeze_backbone=true", "train.augment=flip"), device="cpu")
    r = CliRunner().invoke(cli, ["train", "--resume", str(out / "best.pt")])
    assert r.exit_code == 1 and "no training state" in r.output
    r = CliRunner().invoke(cli, ["train", "--resume", str(out / "last.pt"), "--config", str(TINY)])
    assert r.exit_code == 1 and "drop --config" in r.output


def test_nan_loss_stops_with_a_message() -> None:
    from hashtagger.data.loader import TensorBatches

    model = torch.nn.Linear(4, 3)
    batches = TensorBatches(torch.randn(8, 4), [[0], [1], [2], [0]] * 2, [1] * 8, 3, batch_size=4, train=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    before = model.weight.detach().clone()

    def nan_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return logits.sum() * float("nan")

    with pytest.raises(NonFiniteLossError, match="the loss became nan at epoch 1, step 1"):
        train_one_epoch(
            model,
            batches,
            nan_loss,
            optimizer,
            scheduler,
            prepare=lambda x: x,
            device="cpu",
            amp=Amp.create("cpu", "fp32"),
            epoch=0,
            step=0,
        )
    assert torch.equal(model.weight, before)  # the bad step never reached the weights


def test_eval_transform_is_the_predict_geometry(manifest: Path) -> None:
    import random

    from hashtagger.image.transforms import eval_transform, train_transform
    from hashtagger.models.backbones import backbone_preprocessing

    pre = backbone_preprocessing("resnet18")
    photo = manifest.parent / "img3.jpg"
    assert np.array_equal(eval_transform(pre)(photo), pre.load_array(photo))
    assert np.array_equal(train_transform(pre, "none")(photo, random.Random(1)), pre.load_array(photo))
    crop = train_transform(pre, "standard")
    a, b = crop(photo, random.Random(5)), crop(photo, random.Random(5))
    assert a.shape == (3, 224, 224) and a.dtype == np.uint8 and np.array_equal(a, b)


def test_undecodable_photos_are_skipped_and_counted(manifest: Path) -> None:
    from hashtagger.data import load_dataset
    from hashtagger.data.loader import make_image_loader
    from hashtagger.image.transforms import train_transform
    from hashtagger.models.backbones import backbone_preprocessing

    records = load_dataset(manifest).split("train")
    pre = backbone_preprocessing("resnet18").__class__(size=32)
    loader = make_image_loader(
        records, ["dog", "sun"], train_transform(pre, "standard"), batch_size=5, train=False
    )
    batches = list(loader)
    assert sum(b.skipped for b in batches) == 1 and sum(len(b.inputs) for b in batches) == len(records) - 1
    for b in batches:
        assert b.inputs.dtype == torch.uint8 and b.inputs.shape[1:] == (3, 32, 32)
        assert b.targets.shape == (len(b.inputs), 2) and len(b.index) == len(b.inputs)


def test_asl_reduces_to_bce_without_focusing() -> None:
    from hashtagger.train.losses import AsymmetricLoss, MultiLabelBCE

    logits = torch.randn(5, 7)
    targets = (torch.rand(5, 7) > 0.7).float()
    plain = AsymmetricLoss(gamma_neg=0, gamma_pos=0, clip=0)(logits, targets)
    assert torch.allclose(plain, MultiLabelBCE()(logits, targets), atol=1e-5)
    focused = AsymmetricLoss()(logits, targets)
    assert 0 < float(focused) < float(plain)  # easy negatives cost less


def test_a_trained_model_tags_without_pytorch_through_its_export(manifest: Path, tmp_path: Path) -> None:
    """train writes best.onnx beside best.pt (thresholds inside); `--model RUN_FOLDER` finds it, and a core
    install (no PyTorch) uses it."""
    pytest.importorskip("onnx", reason="train's export needs hashtagger[onnx]")
    tags = [("dog cat", "dog")[i % 2] for i in range(16)]
    data = write_manifest(tmp_path / "photos", tags, validation=6)
    out = tmp_path / "run"
    r = _train_cli(data, out, tmp_path)
    assert r.exit_code == 0, r.output
    assert f"export: {out / 'best.onnx'} (runs without PyTorch)" in r.stdout
    photo = str(data.parent / "img15.jpg")
    torch_run = run_predict_cli(photo, "--model", str(out), "-f", "json")
    onnx_run = run_predict_cli(photo, "--model", str(out), "-f", "json", "--runtime", "onnx")
    assert torch_run.exit_code == 0 and onnx_run.exit_code == 0, onnx_run.output
    assert [h["tag"] for h in json.loads(torch_run.stdout)[0]["hashtags"]] == [
        h["tag"] for h in json.loads(onnx_run.stdout)[0]["hashtags"]
    ]
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from click.testing import CliRunner\nfrom hashtagger.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['predict', {photo!r}, '--model', {str(out / 'best.pt')!r}, '-q'])\n"
        "print(r.exit_code, r.output.strip())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("0 #"), done.stdout + done.stderr
