"""`hashtagger predict` as users run it: inputs, formats, exit codes, bad photos in a batch."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from hashtagger.cli import cli
from hashtagger.predict.hashtags import select_hashtags
from hashtagger.predict.inputs import expand_inputs
from hashtagger.predict.pipeline import Failed


def run(*args: str, input: str | None = None):  # noqa: A002
    return CliRunner().invoke(cli, ["predict", *args, "--quiet", "--workers", "1"], input=input)


@pytest.fixture
def album(photo_factory, tmp_path: Path) -> Path:
    photo_factory("album/a.jpg", seed=1)
    photo_factory("album/sub/b.png", seed=2)
    photo_factory("album/sub/deeper/c.webp", seed=3)
    (tmp_path / "album" / "notes.txt").write_text("not a photo")
    return tmp_path / "album"


def test_one_photo_prints_one_pasteable_line(photo_factory) -> None:
    p = photo_factory("x.jpg")
    r = run(str(p), "--top-k", "5")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    tags = lines[0].split(" ")
    assert len(tags) == 5 and all(t.startswith("#") and len(t) > 1 for t in tags)


def test_folder_recursive_jsonl_contract(album: Path) -> None:
    r = run(str(album), "--format", "jsonl", "-k", "3")
    assert r.exit_code == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [Path(x["path"]).name for x in recs] == ["a.jpg", "b.png", "c.webp"]
    for x in recs:
        scores = [h["score"] for h in x["hashtags"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
        assert all(isinstance(h["tag"], str) and not h["tag"].startswith("#") for h in x["hashtags"])


def test_several_inputs_text_has_path_tab_tags(photo_factory) -> None:
    a, b = photo_factory("a.jpg"), photo_factory("b.jpg", seed=5)
    r = run(str(b), str(a), "--no-hash", "-k", "2")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(b), str(a)]  # order given is kept
    assert all("#" not in line.split("\t")[1] and len(line.split("\t")[1].split()) == 2 for line in lines)


def test_stdin_paths_csv_and_each_file_once(photo_factory) -> None:
    a, b = photo_factory("a.jpg"), photo_factory("b.png", seed=4)
    r = run("-", "--format", "csv", "--top-k", "5", input=f"{a}\n{b}\n{a}\n")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["path", "rank", "tag", "score"]
    assert [r_[0] for r_ in rows[1:]] == [str(a)] * 5 + [str(b)] * 5
    assert [int(r_[1]) for r_ in rows[1:6]] == [1, 2, 3, 4, 5]


def test_glob_pattern(album: Path) -> None:
    r = run(str(album / "**" / "*.png"), "--format", "jsonl")
    assert r.exit_code == 0
    assert [Path(json.loads(x)["path"]).name for x in r.stdout.splitlines()] == ["b.png"]


def test_json_is_one_document(album: Path) -> None:
    r = run(str(album), "--format", "json", "-k", "1")
    doc = json.loads(r.stdout)
    assert isinstance(doc, list) and len(doc) == 3 and len(doc[0]["hashtags"]) == 1


def test_threshold_drops_low_scores(photo_factory) -> None:
    p = photo_factory("x.jpg")
    r = run(str(p), "--format", "jsonl", "--threshold", "1.01")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["hashtags"] == []


def test_bad_photos_do_not_stop_the_batch(tmp_path: Path, photo_factory) -> None:
    good = photo_factory("batch/good.jpg")
    (tmp_path / "batch" / "empty.jpg").write_bytes(b"")
    (tmp_path / "batch" / "text.jpg").write_text("hello")
    trunc = photo_factory("batch/trunc.jpg", size=(300, 200))
    trunc.write_bytes(trunc.read_bytes()[:400])
    photo_factory("batch/ok ünï.png", seed=9)
    r = run(str(tmp_path / "batch"), str(tmp_path / "missing.jpg"), "--format", "jsonl")
    assert r.exit_code == 1
    recs = {Path(json.loads(x)["path"]).name: json.loads(x) for x in r.stdout.splitlines()}
    assert "hashtags" in recs[good.name] and "hashtags" in recs["ok ünï.png"]
    for bad in ("empty.jpg", "text.jpg", "trunc.jpg", "missing.jpg"):
        assert "error" in recs[bad] and "\n" not in recs[bad]["error"]
    err_lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(err_lines) == 4
    assert "Traceback" not in r.stderr


def test_folder_without_images_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = run(str(tmp_path / "empty"))
    assert r.exit_code == 1
    assert "no images" in r.stderr


def test_usage_errors_exit_2() -> None:
    assert run().exit_code == 2
    assert run("x.jpg", "--format", "xml").exit_code == 2


def test_unknown_model_is_one_line(photo_factory) -> None:
    r = run(str(photo_factory("x.jpg")), "--model", "no-such-model")
    assert r.exit_code == 1
    assert r.stderr.strip().count("\n") == 0 and "no-such-model" in r.stderr


def test_bad_checkpoint_is_one_line(tmp_path: Path, photo_factory) -> None:
    ck = tmp_path / "bad.pt"
    ck.write_bytes(b"garbage" * 10)
    r = run(str(photo_factory("x.jpg")), "--model", str(ck))
    assert r.exit_code == 1 and "bad.pt" in r.stderr and "Traceback" not in r.stderr


def test_expand_inputs_reports_missing_and_dedupes(tmp_path: Path, photo_factory) -> None:
    a = photo_factory("a.jpg")
    items = list(expand_inputs([str(a), str(tmp_path / "nope"), str(a), str(tmp_path / "*.zzz")]))
    assert items[0] == str(a)
    assert isinstance(items[1], Failed) and "no such file" in items[1].error
    assert isinstance(items[2], Failed) and "matches no photos" in items[2].error
    assert len(items) == 3


def test_select_hashtags_ties_and_thresholds() -> None:
    import numpy as np

    scores = np.array([0.2, 0.5, 0.5, 0.1], dtype=np.float32)
    vocab = ["a", "b", "c", "d"]
    assert [h.tag for h in select_hashtags(scores, vocab, top_k=3)] == ["b", "c", "a"]
    assert [h.tag for h in select_hashtags(scores, vocab, top_k=4, threshold=0.3)] == ["b", "c"]
    per_tag = [0.0, 0.9, 0.0, 0.0]
    assert [h.tag for h in select_hashtags(scores, vocab, top_k=4, thresholds=per_tag)] == ["c", "a", "d"]


@pytest.mark.slow
def test_closed_pipe_ends_quietly(tmp_path: Path, photo_factory) -> None:
    import subprocess
    import sys

    for i in range(6):
        photo_factory(f"many/{i}.jpg", seed=i)
    cmd = f"{sys.executable} -m hashtagger predict {tmp_path / 'many'} --quiet -b 1 | head -n 1"
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr  # not Click's own broken-pipe exit status 1
    assert r.stdout.count("\n") == 1
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr


# ---- the real default model on real photos (scikit-image's CC0 samples) ----


def _skimage_photo(name: str, tmp_path: Path) -> Path:
    data = pytest.importorskip("skimage.data")
    arr = getattr(data, name)()
    p = tmp_path / f"{name}.png"
    Image.fromarray(arr).save(p)
    return p


@pytest.mark.parametrize(
    ("name", "expected"), [("chelsea", {"cat", "kitty", "kitten", "cats"}), ("coffee", {"coffee"})]
)
def test_default_model_sees_the_subject(tmp_path: Path, name: str, expected: set[str]) -> None:
    p = _skimage_photo(name, tmp_path)
    r = run(str(p), "--top-k", "5", "--no-hash")
    assert r.exit_code == 0, r.stderr
    assert expected & set(r.stdout.split()), r.stdout


def test_json_hashtags_carry_their_parts_and_why_prints_them(photo_factory) -> None:
    p = photo_factory("a.png", size=(64, 48))
    r = run(str(p), "--format", "jsonl", "-k", "10")
    assert r.exit_code == 0, r.stderr
    tags = json.loads(r.stdout)["hashtags"]
    for h in tags:
        assert abs(h["visual"] + h["cooccurrence"] + h["popularity"] - h["social"] - h["visual"]) < 2e-4
        assert h["kind"] in ("content", "reach")
    assert tags[0]["kind"] == "content"
    why = run(str(p), "--why", "-k", "4")
    lines = why.stdout.splitlines()
    assert why.exit_code == 0 and len(lines) == 5 and lines[0].startswith("#")
    first = tags[0]
    assert lines[1].split()[0] == "#" + first["tag"] and f"visual {first['visual']:.4f}" in lines[1]
    assert all(why_adds_up(line) for line in lines[1:])


_WHY = re.compile(
    r"\s+#\S+\s+(?P<score>[\d.]+)\s+(?:held back from (?P<held>[\d.]+) to keep content first; [\d.]+ )?= "
    r"\(?visual (?P<visual>[\d.]+) \+ social (?P<social>[\d.]+)\)?(?: x lift (?P<lift>[\d.]+)\^2)? "
    r"\(co-occurrence [\d.]+, popularity [\d.]+\)(?:; reach tag)?(?:; less (?P<less>[\d.]+), close to #\S+)?$"
)


def why_adds_up(line: str) -> bool:
    """The number a --why line states (the score, or the value a held tag was held back from) is its sum."""
    m = _WHY.match(line)
    assert m, line
    got = {k: float(v) for k, v in m.groupdict().items() if v is not None}
    value = (got["visual"] + got["social"]) * got.get("lift", 1.0) ** 2 - got.get("less", 0.0)
    stated = got.get("held", got["score"])
    return abs(value - stated) <= 2.5e-4 and (got["score"] < stated or "held" not in got)


def test_why_of_a_held_reach_tag_adds_up_to_the_value_it_was_held_back_from() -> None:
    """'#love 0.0050 = (0.0008 + 0.0053) x 1.05^2' did not add up: 0.0050 is where it was held."""
    from hashtagger.predict.output import why_lines
    from hashtagger.predict.predictions import Hashtag, Prediction

    parts = {"visual": 0.0008, "social": 0.0053, "cooccurrence": 0.0025, "popularity": 0.0028}
    love = Hashtag("love", 0.005, {**parts, "kind": "reach", "lift": 1.0538, "held": True})
    kitty = Hashtag(
        "kitty", 0.005, {**parts, "visual": 0.0063, "social": 0.0003, "kind": "content", "similar_to": "cat",
                         "discount": 0.0016},
    )  # fmt: skip
    lines = why_lines(Prediction("a.jpg", [kitty, love]))
    assert lines[1] == (
        "  #love   0.0050  held back from 0.0068 to keep content first; "
        "0.0068 = (visual 0.0008 + social 0.0053) x lift 1.05^2 "
        "(co-occurrence 0.0025, popularity 0.0028); reach tag"
    )
    assert all(why_adds_up(line) for line in lines)


def test_only_reach_and_group_split_the_same_ranking(photo_factory) -> None:
    p = photo_factory("a.png", size=(64, 48))
    every = json.loads(run(str(p), "--format", "jsonl", "-k", "30").stdout)["hashtags"]
    reach_tags = [h["tag"] for h in every if h["kind"] == "reach"]
    assert reach_tags, "the default ranking should hold some reach tags in its top 30"
    r = run(str(p), "--format", "jsonl", "-k", "3", "--only", "reach")
    assert r.exit_code == 0, r.stderr
    assert [h["tag"] for h in json.loads(r.stdout)["hashtags"]] == reach_tags[:3]

    top = every[:10]
    grouped = run(str(p), "-k", "10", "--group", "--no-hash")
    content, reach = grouped.stdout.rstrip("\n").split("\t")
    assert content.split() == [h["tag"] for h in top if h["kind"] == "content"]
    assert reach.split() == [h["tag"] for h in top if h["kind"] == "reach"]
    as_json = json.loads(run(str(p), "--format", "jsonl", "-k", "10", "--group").stdout)["hashtags"]
    kinds = [h["kind"] for h in as_json]
    assert kinds == sorted(kinds) and {h["tag"] for h in as_json} == {h["tag"] for h in top}


def test_only_reach_without_ranking_parts_is_empty() -> None:
    import numpy as np

    scores = np.array([0.2, 0.5, 0.3], dtype=np.float32)
    assert select_hashtags(scores, ["a", "b", "c"], top_k=2, only="reach") == []
    assert [h.tag for h in select_hashtags(scores, ["a", "b", "c"], top_k=2, only="content")] == ["b", "c"]


def test_grouped_text_keeps_the_tab_when_a_group_is_empty() -> None:
    from hashtagger.predict.output import Writer
    from hashtagger.predict.predictions import Hashtag, Prediction

    out = io.StringIO()
    writer = Writer("text", out, group=True)
    writer.write(Prediction("a.jpg", [Hashtag("cat", 0.5, {"kind": "content"})]))
    writer.write(Prediction("b.jpg", [Hashtag("love", 0.5, {"kind": "reach"})]))
    assert out.getvalue() == "a.jpg\t#cat\t\nb.jpg\t\t#love\n"


def test_only_content_leaves_out_reach_tags(photo_factory) -> None:
    p = photo_factory("a.png", size=(64, 48))
    every = [h for h in json.loads(run(str(p), "--format", "jsonl", "-k", "10").stdout)["hashtags"]]
    r = run(str(p), "--format", "jsonl", "-k", "10", "--only", "content")
    content = json.loads(r.stdout)["hashtags"]
    assert len(content) == 10 and all(h["kind"] == "content" for h in content)
    assert [h["tag"] for h in content][:3] == [h["tag"] for h in every if h["kind"] == "content"][:3]


@pytest.mark.parametrize("option", [["--group"], ["--only", "reach"]])
def test_ranking_presentation_options_are_refused_with_ray_in_one_line(photo_factory, option) -> None:
    p = photo_factory("a.png", size=(64, 48))
    r = run(str(p), str(p.parent / "missing.jpg"), "--engine", "ray", *option)  # refused before any listing
    assert r.exit_code != 0 and r.stdout == ""
    assert r.stderr.strip().count("\n") == 0 and "--group" in r.stderr and "--engine ray" in r.stderr


def test_calibrated_thresholds_never_leave_a_photo_without_its_best_tag() -> None:
    """A photo that clears no per-tag (F1) threshold still gets its best tag; a --threshold may empty it."""
    import numpy as np

    scores = np.array([0.2, 0.4, 0.1], dtype=np.float32)
    calibrated = [0.5, 0.6, 0.7]
    assert [h.tag for h in select_hashtags(scores, ["a", "b", "c"], 3, None, calibrated)] == ["b"]
    assert [h.tag for h in select_hashtags(scores, ["a", "b", "c"], 3, None, [0.1, 0.6, 0.7])] == ["a"]
    assert select_hashtags(scores, ["a", "b", "c"], 3, 0.5, calibrated) == []
