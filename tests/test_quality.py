"""scripts/quality.py runs every part on tiny data, and skips parts whose data is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import make_photo, write_harrison

ROOT = Path(__file__).resolve().parents[1]


def _quality():
    spec = importlib.util.spec_from_file_location("quality", ROOT / "scripts" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _tiny_harrison(folder: Path) -> Path:
    rows = []
    for crawl, usual in (("dog", "dog puppy love"), ("beach", "beach sea sun")):
        for i in range(40):
            rows.append((f"instagram_dataset/{crawl}/image_{i}.jpg", usual if i % 3 else f"{crawl} friend"))
    return write_harrison(folder, rows)


@pytest.mark.slow  # runs scripts/quality.py (every part), like the script tests
def test_quality_runs_on_tiny_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo = tmp_path / "demo"
    for i in range(2):
        make_photo(demo / f"{i}.jpg", size=(64, 48), seed=i)
    for i in range(4):
        make_photo(tmp_path / "set" / f"{i}.jpg", size=(64, 48), seed=10 + i)
    manifest = tmp_path / "set" / "labels.csv"
    manifest.write_text(
        "path,tags\n0.jpg,dog grass\n1.jpg,grass\n2.jpg,sky\n3.jpg,dog sky\n", encoding="utf-8"
    )
    harrison = _tiny_harrison(tmp_path / "harrison")
    _quality().main(
        [
            "--demo",
            str(demo),
            "--msrc",
            str(manifest),
            "--clothing",
            str(tmp_path / "absent.csv"),
            "--harrison",
            str(harrison),
            "--images",
            "60",
            "--users",
            "3",
            "--models",
            "zeroshot",
        ]  # fmt: skip
    )
    out, err = capsys.readouterr()
    assert "0.jpg: #" in out and "| demo photos | 2 photos, top 5 | popular-tag share" in out
    assert "| MSRC-v2 | zeroshot |" in out and "| MSRC-v2 | popularity |" in out
    assert "| names an object (MSRC-v2) | 2 photos | top 5 " in out  # the two photos that show a dog
    assert "skipping clothing-small" in err
    assert out.count("| HARRISON simulation rho=") == 3 and "default ranking" in out
    assert out.count("| profile simulation (3 users) |") == 3


def test_quality_skips_what_is_absent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing"
    _quality().main(
        [
            "--demo",
            str(missing),
            "--msrc",
            str(missing / "a.csv"),
            "--clothing",
            str(missing / "b.csv"),
            "--harrison",
            str(missing),
        ]  # fmt: skip
    )
    err = capsys.readouterr().err
    for part in ("demo", "MSRC-v2", "clothing-small", "harrison", "profile"):
        assert f"skipping {part}" in err


def test_names_rate_by_hand() -> None:
    """A photo counts when a top hashtag names one of its things; 'first' when the first one does."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from names_rate import OBJECTS, hit_rates

    lists = {"a": ["dog", "cat"], "b": ["sky", "love"], "c": ["people"], "d": ["sea"]}
    wanted = {"a": {"cat"}, "b": {"dog"}, "c": OBJECTS["face"], "d": set()}  # d shows no object: left out
    assert hit_rates(lists, wanted) == (2 / 3, 1 / 3, 3)
