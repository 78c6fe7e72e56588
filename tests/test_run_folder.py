"""`train` and its run folder: never replace another run, clean what a killed run left, clear messages.

Tiny runs (ResNet-18 with random weights on 32-pixel photos, `configs/tiny.yaml`), a few seconds each.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_manifest

from hashtagger.cli import cli
from hashtagger.models.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"
FAST = ["model.freeze_backbone=true", "train.augment=none"]  # cached features: the cheapest run


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 training + 4 validation photos, one listed photo that is not there and one undecodable one."""
    root = tmp_path_factory.mktemp("photos")
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    tags = [("cat", "dog sun", "sun")[i % 3] for i in range(12)]
    return write_manifest(root, tags, validation=4, extra=("broken.jpg,cat,train", "gone.jpg,dog,train"))


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest)


def train(manifest: Path, out: str | Path, *extra: str, cache: Path | None = None) -> object:
    args = ["train", "--config", str(TINY), "--device", "cpu", "--quiet"]
    sets = [f"data.path={manifest}", f"out={out}", *FAST, *extra]
    if cache is not None:
        sets.append(f"data.cache_dir={cache}")
    for s in sets:
        if s.startswith("--"):
            args.append(s)
        else:
            args += ["--set", s]
    return CliRunner().invoke(cli, args)


def one_line(result: object) -> str:
    lines = result.output.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output  # type: ignore[attr-defined]
    return lines[0]


def test_a_fresh_run_never_replaces_another_run(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train(manifest, out, cache=tmp_path / "c").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert {"config.yaml", "metrics.csv", "last.pt", "best.pt"} <= set(before)
    umask = os.umask(0)
    os.umask(umask)
    assert {(out / n).stat().st_mode & 0o777 for n in before} == {0o666 & ~umask}  # not mkstemp's 0600

    again = train(manifest, out, "train.lr=0.5", cache=tmp_path / "c")
    assert again.exit_code == 1
    assert one_line(again) == (
        f"Error: {out} already holds a run (config.yaml, metrics.csv, last.pt, best.pt, best.onnx); "
        "give another folder with --set out=..., or --overwrite to replace that run"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

    replaced = train(manifest, out, "train.lr=0.5", "--overwrite", cache=tmp_path / "c")
    assert replaced.exit_code == 0, replaced.output
    assert load_checkpoint(out / "best.pt")["config"]["train"]["lr"] == 0.5


def test_empty_out_never_trains_into_the_current_folder(
    manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text("mine\n")
    r = train(manifest, "")
    assert r.exit_code == 1 and "config key 'out' is empty" in one_line(r)
    assert os.listdir(tmp_path) == ["config.yaml"] and (tmp_path / "config.yaml").read_text() == "mine\n"
    r = train(manifest, ".")  # named on purpose, but the folder holds a config.yaml that is not a run's
    assert r.exit_code == 1 and "already holds a run (config.yaml)" in one_line(r)
    assert (tmp_path / "config.yaml").read_text() == "mine\n"


def test_out_naming_a_file_is_one_line(manifest: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    r = train(manifest, tmp_path / "notes.txt")
    assert r.exit_code == 1
    assert one_line(r) == f"Error: config key 'out': {tmp_path / 'notes.txt'} is a file, not a folder; " + (
        "give a folder for the run"
    )


def test_resume_cleans_stale_temp_files_and_refuses_changing_the_backbone(
    manifest: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert train(manifest, out, cache=tmp_path / "c").exit_code == 0
    # What kill -9 during checkpoint writes leaves behind (earlier versions' mkstemp names too).
    stale = [out / ".last.pt.k3j9x0a1.tmp", out / ".best.pt.abc_1234.tmp", out / ".config.yaml.0a1b2c3d.tmp"]
    for p in stale:
        p.write_bytes(b"\0" * 1000)
    r = CliRunner().invoke(
        cli, ["train", "--resume", str(out / "last.pt"), "--set", "model.backbone=efficientnet_lite0"]
    )
    assert r.exit_code == 1
    assert "config key 'model.backbone' cannot change on --resume (the run was trained with resnet18" in (
        one_line(r)
    )
    r = CliRunner().invoke(cli, ["train", "--resume", str(out / "last.pt"), "--set", "train.epochs=2", "-q"])
    assert r.exit_code == 0, r.output
    assert not any(p.exists() for p in stale) and not list(out.glob(".*.tmp"))
    assert load_checkpoint(out / "last.pt")["epoch"] == 2


def test_missing_files_are_called_missing_not_undecodable(manifest: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(
        cli,
        ["train", "--config", str(TINY), "--device", "cpu"]
        + sum((["--set", s] for s in [f"data.path={manifest}", f"out={tmp_path / 'run'}", *FAST]), [])
        + ["--set", f"data.cache_dir={tmp_path / 'c'}"],
    )
    assert r.exit_code == 0, r.output
    assert (
        f"1 photo listed in {manifest} is missing and left out (first: {manifest.parent / 'gone.jpg'})"
        in (r.stderr)
    )
    assert "1 photo could not be decoded and is left out" in r.stderr  # broken.jpg, and only it
    assert "for 1 epoch," in r.stderr


def _no_space(path_part: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes of files whose path contains path_part fail as on a full disk."""
    real = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:
        if path_part in str(self):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_a_full_disk_while_caching_features_names_the_path(
    manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_space(str(tmp_path / "c"), monkeypatch)
    r = train(manifest, tmp_path / "run", cache=tmp_path / "c")
    assert r.exit_code == 1
    line = one_line(r)
    assert line.startswith(f"Error: no space left on the device for {tmp_path / 'c'}") and ".npy" in line


def test_a_full_disk_while_writing_a_checkpoint_names_it(
    manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hashtagger.models import checkpoint

    real_open = open

    def full_open(path: str, mode: str = "r", *a: object, **k: object) -> object:
        f = real_open(path, mode, *a, **k)
        if "w" in mode:

            def write(data: bytes) -> int:
                raise OSError(errno.ENOSPC, "No space left on device")

            f.write = write  # type: ignore[method-assign]
        return f

    monkeypatch.setattr(checkpoint, "open", full_open, raising=False)
    out = tmp_path / "run"
    r = train(manifest, out, cache=tmp_path / "c")
    assert r.exit_code == 1
    assert (
        one_line(r)
        == f"Error: no space left on the device for {out / 'last.pt'}; free some space and run again"
    )
    assert not list(out.glob(".*.tmp")) and not (out / "last.pt").exists()


def test_a_run_never_writes_into_its_data_or_a_folder_of_other_files(manifest: Path, tmp_path: Path) -> None:
    """`out` = the manifest's folder, a folder inside it, a photo folder elsewhere, `/` or a folder of
    someone's files: one line before any training, and nothing in those folders changes."""
    pics = tmp_path / "pics"
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "labels.csv").write_text("path,tags\n../pics/a.jpg,dog\n")
    pics.mkdir()
    (pics / "a.jpg").write_bytes(b"a photo")
    data = manifest.parent
    before = sorted(p.name for p in data.rglob("*"))
    for out, data_path, how in [
        (data, manifest, "is"),
        (data / "runs" / "mine", manifest, "lies inside"),
        (pics, lists / "labels.csv", "is"),
    ]:
        r = train(data_path, out)
        assert r.exit_code == 1
        folder = data if data_path == manifest else pics
        assert one_line(r) == (
            f"Error: config key 'out': {out} {how} the data folder {folder} of {data_path}; a run never "
            "writes into its data: give a folder of its own, e.g. --set out=runs/NAME"
        )
    assert sorted(p.name for p in data.rglob("*")) == before and os.listdir(pics) == ["a.jpg"]

    r = train(manifest, "/")
    assert r.exit_code == 1 and one_line(r) == (
        "Error: config key 'out': / is the root folder; give a folder of its own for the run"
    )
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep\n")
    (mine / "metrics.csv").write_text("my own numbers\n")
    for extra in ((), ("--overwrite",)):
        r = train(manifest, mine, *extra)
        assert r.exit_code == 1
        assert one_line(r) == (
            f"Error: config key 'out': {mine} holds files that are not a run's (notes.txt); a run goes into "
            "a new or empty folder (or one holding only an earlier run): give one, e.g. --set out=runs/NAME"
        )
    assert sorted(os.listdir(mine)) == ["metrics.csv", "notes.txt"]
    assert (mine / "metrics.csv").read_text() == "my own numbers\n"
