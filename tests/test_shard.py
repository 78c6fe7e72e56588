"""`predict --shard K/N`: N runs tag every input exactly once, whatever the input kind, and merge in order."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hashtagger.cli import cli
from hashtagger.errors import InputError
from hashtagger.predict.shard import Shard, ShardSelection, parse_shard, shard_of


def run(*args: str, input: str | None = None):  # noqa: A002
    return CliRunner().invoke(cli, ["predict", *args, "--quiet", "--workers", "1"], input=input)


def test_parse_shard() -> None:
    assert parse_shard("0/1") == Shard(0, 1)
    assert parse_shard(" 3/4 ") == Shard(3, 4)
    for bad in ("4/4", "-1/4", "1/0", "1", "a/b", "1/2/3", ""):
        with pytest.raises(InputError, match="expected K/N with 0 <= K < N"):
            parse_shard(bad)


def test_partition_is_the_path_digest_and_covers_every_path_once() -> None:
    paths = [f"photos/{i:04d}/IMG_{i}.jpg" for i in range(2000)] + ["ünï code/ö.png", "./a.jpg"]
    # Stable across processes and versions: BLAKE2b-64 of the UTF-8 path, big-endian, modulo N.
    digest = hashlib.blake2b(b"photos/0007/IMG_7.jpg", digest_size=8).digest()
    assert shard_of("photos/0007/IMG_7.jpg", 5) == int.from_bytes(digest, "big") % 5
    for n in (1, 3, 8):
        owners = [[k for k in range(n) if Shard(k, n).holds(p)] for p in paths]
        assert all(len(o) == 1 for o in owners)
        sizes = [sum(o == [k] for o in owners) for k in range(n)]
        assert min(sizes) > 0.8 * len(paths) / n  # roughly even


def test_selection_keeps_input_positions() -> None:
    sel = ShardSelection(Shard(1, 2))
    paths = [f"p{i}.jpg" for i in range(20)]
    kept = list(sel.select(paths))
    assert kept and kept == [p for p in paths if shard_of(p, 2) == 1]
    assert [sel.position(p) for p in kept] == [paths.index(p) for p in kept]
    assert sel.position(kept[0]) is None  # forgotten once read: memory stays flat


def test_bad_shard_is_a_usage_error() -> None:
    r = run("x.jpg", "--shard", "2/2")
    assert r.exit_code == 2
    assert "--shard" in r.output and "2/2: expected K/N with 0 <= K < N" in r.output
    assert "Traceback" not in r.output


@pytest.fixture
def photos(photo_factory, tmp_path: Path) -> list[Path]:
    made = [photo_factory(f"album/{i:02d}.jpg", seed=i) for i in range(9)]
    made.append(photo_factory("album/sub/x.png", seed=20))
    (tmp_path / "album" / "broken.jpg").write_text("not a photo")
    return made


def _records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


# stdin is the same sharding again from a list of paths: part of the full run only
@pytest.mark.parametrize("kind", ["folder", pytest.param("stdin", marks=pytest.mark.slow)])
def test_three_shards_tag_every_input_once_and_merge_back(
    tiny_checkpoint: Path, photos: list[Path], tmp_path: Path, kind: str
) -> None:
    missing = str(tmp_path / "missing.jpg")
    if kind == "folder":
        args, stdin = [str(tmp_path / "album"), missing], None
    else:
        args, stdin = (
            ["-"],
            "\n".join([*map(str, photos), str(tmp_path / "album" / "broken.jpg"), missing]) + "\n",
        )
    common = ["--model", str(tiny_checkpoint), "--format", "jsonl", "-k", "3", "--precision", "fp32"]
    whole = run(*args, *common, input=stdin)
    assert whole.exit_code == 1  # the broken photo and the missing path
    expected = _records(whole.stdout)
    assert len(expected) == 12
    parts = [run(*args, *common, "--shard", f"{k}/3", input=stdin) for k in range(3)]
    merged = [rec for part in parts for rec in _records(part.stdout)]
    assert sorted(r["path"] for r in merged) == sorted(r["path"] for r in expected)  # each exactly once
    assert all(len(_records(p.stdout)) < 12 for p in parts)
    # Failures stay with the shard that owns them: exit 1 there, one error line each.
    for part in parts:
        errors = [r for r in _records(part.stdout) if "error" in r]
        assert part.exit_code == (1 if errors else 0)
        assert part.stderr.count("error:") == len(errors)
    # The index puts the merged shards back in input order, with the same hashtags.
    merged.sort(key=lambda r: r["index"])
    assert [r["index"] for r in merged] == list(range(12))
    assert [{k: v for k, v in r.items() if k != "index"} for r in merged] == expected
