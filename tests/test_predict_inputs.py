"""predict's inputs and outputs under attack: symlink loops, long and non-UTF-8 names, empty inputs.

A tiny fake tagger (conftest's fake_model) stands in for the model so that these run in
milliseconds; the real models are covered by test_predict.py.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from conftest import run_predict_cli as run

from hashtagger.image.walk import iter_glob
from hashtagger.predict.inputs import expand_inputs
from hashtagger.predict.output import Writer, safe_text, text_path
from hashtagger.predict.pipeline import Failed
from hashtagger.predict.predictions import Hashtag, Prediction


def _loop_tree(tmp_path: Path, photo_factory) -> Path:
    """L/sub/a.jpg with three links back up (L/sub/l1 -> ..): Python's glob loops through them."""
    photo_factory("L/sub/a.jpg")
    photo_factory("elsewhere/b.png", seed=2)
    for i in (1, 2, 3):
        os.symlink("..", tmp_path / "L" / "sub" / f"l{i}")
    os.symlink("../elsewhere", tmp_path / "L" / "ext")
    return tmp_path / "L"


def test_glob_through_symlink_loops_ends_and_tags_each_file_once(tmp_path: Path, photo_factory) -> None:
    root = _loop_tree(tmp_path, photo_factory)
    by_glob = list(expand_inputs([f"{root}/**/*.*"]))
    by_walk = list(expand_inputs([str(root)]))
    real = sorted(os.path.realpath(p) for p in by_glob)
    assert real == sorted([str(tmp_path / "L/sub/a.jpg"), str(tmp_path / "elsewhere/b.png")])
    # Folder walks and globs follow the same rule: linked folders are entered, each real one once.
    assert sorted(os.path.realpath(p) for p in by_walk) == real
    assert list(iter_glob(f"{root}/**/a.jpg")) == [str(root / "sub" / "a.jpg")]


def test_walk_streams_before_the_tree_is_listed(
    tmp_path: Path, photo_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        photo_factory(f"tree/d{i}/p.jpg", seed=i)
    photo_factory("tree/first.jpg")
    listed: list[str] = []
    real_scandir = os.scandir

    def scandir(path="."):  # noqa: ANN001, ANN202
        listed.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    for arg in (str(tmp_path / "tree"), f"{tmp_path}/tree/**/*.jpg"):
        listed.clear()
        first = next(iter(expand_inputs([arg])))
        assert Path(first).name in ("first.jpg", "p.jpg")
        assert len(listed) <= 2, listed  # the root (and at most one subfolder), not all six folders


def test_glob_keeps_shell_rules(tmp_path: Path, photo_factory) -> None:
    photo_factory("g/a.jpg")
    photo_factory("g/.hidden.jpg")
    photo_factory("g/x/b.jpg", seed=3)
    photo_factory("g/.h/c.jpg", seed=4)
    names = [Path(p).name for p in iter_glob(f"{tmp_path}/g/**/*.jpg")]
    assert names == ["a.jpg", "b.jpg"]
    assert [Path(p).name for p in iter_glob(f"{tmp_path}/g/?.jpg")] == ["a.jpg"]
    assert [Path(p).name for p in iter_glob(f"{tmp_path}/g/[ab].jpg")] == ["a.jpg"]


def test_long_file_name_fails_alone(photo_factory, fake_model) -> None:
    good = photo_factory("good.jpg")
    long_name = "y" * 300 + ".jpg"
    for args, stdin in (([str(good), long_name], None), (["-"], f"{good}\n{long_name}\n")):
        r = run(*args, "--format", "jsonl", input=stdin)
        assert r.exit_code == 1 and "Traceback" not in r.output
        recs = [json.loads(line) for line in r.stdout.splitlines()]
        assert "hashtags" in recs[0] and recs[1]["error"].endswith("file name too long")
        assert r.stderr.count("\n") == 1 and "file name too long" in r.stderr


def test_non_utf8_and_control_characters_in_names(tmp_path: Path, photo_factory, fake_model) -> None:
    folder = tmp_path / "names"
    photo_factory(os.fsdecode(b"names/caf\xe9.jpg"))
    photo_factory("names/new\nline\tand\\back.jpg", seed=2)
    for fmt in ("text", "jsonl", "json", "csv"):
        r = run(str(folder), "--format", fmt, "-k", "1")
        assert r.exit_code == 0, r.output
        out = r.stdout_bytes.decode("utf-8")  # strict: raises on raw invalid bytes
        shown = "caf\\xe9.jpg"  # the documented form: each undecodable byte as \xNN
        assert (shown if fmt in ("text", "csv") else json.dumps(shown)[1:-1]) in out
        if fmt == "text":
            assert len(out.splitlines()) == 2 and "new\\nline\\tand\\\\back.jpg\t#" in out
        elif fmt == "jsonl":
            paths = [json.loads(line)["path"] for line in out.splitlines()]
            assert [Path(p).name for p in paths] == ["caf\\xe9.jpg", "new\nline\tand\\back.jpg"]


def test_writers_stay_valid_on_a_strict_utf8_stream() -> None:
    name = os.fsdecode(b"/p/\xff\xfe.jpg")
    preds = [Prediction(name, [Hashtag("a", 0.5)]), Prediction(name, error=f"{name}: no such file")]
    for fmt in ("text", "json", "jsonl", "csv"):
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
        w = Writer(fmt, stream)
        for p in preds:
            w.write(p)
        w.close()
        stream.flush()
        shown = "/p/\\xff\\xfe.jpg"
        out = raw.getvalue().decode("utf-8")
        assert (json.dumps(shown)[1:-1] if fmt.startswith("json") else shown) in out
    assert safe_text("plain ünï") == "plain ünï" and text_path("a\tb") == "a\\tb"


def test_csv_and_json_escape_quotes_commas_and_newlines(photo_factory, fake_model) -> None:
    p = photo_factory('q "x", y\nz.jpg')
    r = run(str(p), "--format", "csv", "-k", "1")
    import csv

    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[1][0] == str(p) and len(rows) == 2
    r = run(str(p), "--format", "json", "-k", "1")
    assert json.loads(r.stdout)[0]["path"] == str(p)


def test_empty_inputs_follow_one_rule(tmp_path: Path, fake_model) -> None:
    (tmp_path / "empty").mkdir()
    for args, stdin, message in (
        ([str(tmp_path / "empty")], None, "folder contains no images"),
        (["-"], "", "no paths on standard input"),
        ([f"{tmp_path}/*.jpg"], None, "pattern matches no photos"),
    ):
        r = run(*args, input=stdin)
        assert r.exit_code == 1, args
        assert r.stderr.count("\n") == 1 and message in r.stderr


def test_missing_paths_are_reported_before_the_model_loads(tmp_path: Path, photo_factory, fake_model) -> None:
    r = run(str(tmp_path / "typo.jpg"), str(tmp_path / "other.jpg"), "--format", "jsonl")
    assert r.exit_code == 1 and fake_model.loaded == []  # the model was never loaded
    assert [json.loads(x)["path"] for x in r.stdout.splitlines()] == [
        str(tmp_path / "typo.jpg"),
        str(tmp_path / "other.jpg"),
    ]
    good = photo_factory("ok.jpg")
    r = run(str(tmp_path / "typo.jpg"), str(good))
    assert r.exit_code == 1 and fake_model.loaded == ["zeroshot"]
    assert r.stderr.count("typo.jpg: no such file or folder") == 1  # reported once, early
    assert r.stdout.startswith(str(good))


def test_undecodable_photo_formats_are_named(tmp_path: Path, photo_factory, fake_model) -> None:
    photo_factory("mixed/a.jpg")
    (tmp_path / "mixed" / "b.heic").write_bytes(b"\0\0\0\x18ftypheic")
    (tmp_path / "mixed" / "c.HEIC").write_bytes(b"\0\0\0\x18ftypheic")
    (tmp_path / "mixed" / "notes.txt").write_text("x")
    from PIL import features

    if features.check("avif"):
        photo_factory("mixed/d.avif", seed=4)
    r = run(str(tmp_path / "mixed"))
    assert r.exit_code == 0
    tagged = [Path(line.split("\t")[0]).name for line in r.stdout.splitlines()]
    assert tagged == (["a.jpg", "d.avif"] if features.check("avif") else ["a.jpg"])
    assert "skipped 2 photos this installation cannot decode (2 .heic)" in r.stderr


def test_failed_items_keep_their_order(tmp_path: Path, photo_factory) -> None:
    a = photo_factory("a.jpg")
    items = list(expand_inputs([str(a), str(tmp_path / "nope.jpg"), str(a)]))
    assert items[0] == str(a) and isinstance(items[1], Failed) and len(items) == 2
