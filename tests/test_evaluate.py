"""`hashtagger evaluate`: metrics on a tiny synthetic dataset, checked by hand, through the real pipeline.

The fake model scores each tag by the photo's mean colour channel (red, green, blue), so every score
is known in advance: a photo of colour (200, 100, 50) scores red 200/255, green 100/255, blue 50/255.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VOCAB, ColourTagger
from PIL import Image

from hashtagger.cli import cli
from hashtagger.data import Dataset, Record, load_dataset
from hashtagger.errors import InputError
from hashtagger.evaluate.report import render
from hashtagger.evaluate.rows import METRIC_KEYS, dataset_vocabulary, tag_frequencies, truth_matrix
from hashtagger.evaluate.run import evaluate_dataset, open_model
from hashtagger.models.base import Tagger
from hashtagger.models.spec import ModelSpec
from hashtagger.progress import StderrProgress
from hashtagger.runtime import RunOptions


def _png(path: Path, colour: tuple[int, int, int]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)
    return path.name


# Train: red x3, green x1, blue x1 (popularity: red 3/4, then blue and green 1/4, ties alphabetical).
# Test: a (200,100,50) tags red+sky; b (10,220,30) blue; c grey, all tied, tags sky (outside the
# vocabulary); d is not an image; e has no tags (split None, never scored).
TEST_COLOURS = {"a": (200, 100, 50), "b": (10, 220, 30), "c": (90, 90, 90)}


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    rows = ["path,split,tags"]
    for name, tags in [("t1", "red"), ("t2", "red green"), ("t3", "red"), ("t4", "blue")]:
        _png(root / "img" / f"{name}.png", (128, 0, 0))
        rows.append(f"img/{name}.png,train,{tags}")
    for name, tags in [("v1", "red"), ("v2", "green"), ("v3", "blue")]:
        _png(root / "img" / f"{name}.png", (250, 5, 5) if tags == "red" else (5, 250, 5))
        rows.append(f"img/{name}.png,validation,{tags}")
    for name, colour in TEST_COLOURS.items():
        _png(root / "img" / f"{name}.png", colour)
    (root / "img" / "d.png").write_bytes(b"this is not a png")
    _png(root / "img" / "e.png", (1, 2, 3))
    rows += [
        "img/a.png,test,red sky",
        "img/b.png,test,blue",
        "img/c.png,test,sky",
        "img/d.png,test,red",
        "img/e.png,test,",
    ]
    (root / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root / "labels.csv"


@pytest.fixture
def fake_models(register_fake) -> list[ColourTagger]:
    """Register `fake` (used by both predict and evaluate) as a built-in model that makes a ColourTagger."""
    made: list[ColourTagger] = []

    def make() -> Tagger:
        made.append(ColourTagger())
        return made[-1]

    register_fake("fake", make)
    return made


RUN = RunOptions(device="cpu", precision="fp32", workers=0, quiet=True)


@pytest.fixture
def colour(register_fake) -> None:
    """`fake`: a built-in model that tags by colour (ColourTagger)."""
    register_fake("fake", ColourTagger)


def _evaluate(manifest: Path, **kw: object) -> dict:
    return evaluate_dataset(load_dataset(manifest), "test", ["fake"], run=RUN, **kw)


def test_truth_matrix_ignores_tags_outside_the_vocabulary() -> None:
    t = truth_matrix([("red", "sky"), ("blue",), ("sky",)], VOCAB)
    assert t.tolist() == [[True, False, False], [False, False, True], [False, False, False]]


def test_model_row_by_hand(manifest: Path, colour) -> None:
    result = _evaluate(manifest)
    assert (result["images"], result["failed_images"], result["untagged_images"]) == (3, 1, 1)
    assert result["failures"][0]["path"].endswith("d.png")
    row = result["models"][0]
    assert (row["model"], row["kind"], row["vocabulary_size"]) == ("fake", "colour", 3)
    assert row["thresholds"] == "0.5"
    assert row["truth_in_vocabulary"] == pytest.approx(2 / 4)  # red of a, blue of b; |truth| = 2 + 1 + 1
    m = row["metrics"]
    assert list(m) == list(METRIC_KEYS)
    # Rankings: a red>green>blue (hit red), b green>blue>red (hit blue at 2),
    # c all tied -> red, green, blue by index (no truth in the vocabulary).
    # |truth|: a 2 (red, sky), b 1, c 1 (sky, outside the vocabulary).
    expected = {
        "precision@1": 1 / 3, "recall@1": (1 / 2) / 3, "accuracy@1": 1 / 3, "f1@1": 2 / 9,
        "precision@5": (1 / 5 + 1 / 5) / 3, "recall@5": (1 / 2 + 1) / 3, "accuracy@5": 2 / 3, "f1@5": 4 / 19,
        "precision@10": (1 / 10 + 1 / 10) / 3, "recall@10": 1 / 2, "accuracy@10": 2 / 3, "f1@10": 2 / 17,
        # AP: red: a ranks 1st -> 1; green: no positive (skipped);
        # blue [a .196, b .118, c .353]: b 3rd -> 1/3.
        "map": (1 + 1 / 3) / 2,
        # scores >= 0.5: a red (TP), b green (FP), blue of b missed (FN): micro 2*1/(2*1+1+1) = 1/2;
        # macro over tags with a positive: red 1, blue 0.
        "f1_micro": 1 / 2, "f1_macro": 1 / 2,
        # head = the most frequent tenth of 3 tags by training count = red; tail = green (no AP), blue.
        "map_head": 1.0, "map_tail": 1 / 3,
    }  # fmt: skip
    assert m == pytest.approx(expected)


def test_popularity_row_by_hand(manifest: Path, colour) -> None:
    pop = _evaluate(manifest)["models"][-1]
    assert (pop["model"], pop["vocabulary_size"], pop["thresholds"]) == ("popularity", 3, "0.5")
    m = pop["metrics"]
    # Vocabulary [red, blue, green] with training shares [3/4, 1/4, 1/4]: every image ranks red, blue, green.
    # a hits red at 1; b hits blue at 2; c nothing.
    assert m["precision@1"] == pytest.approx(1 / 3)
    assert m["recall@1"] == pytest.approx(1 / 6)
    assert m["accuracy@5"] == pytest.approx(2 / 3)
    assert m["recall@5"] == pytest.approx(1 / 2)
    # AP with constant scores, ties by image order: red a 1st -> 1; blue b 2nd -> 1/2.
    assert m["map"] == pytest.approx(3 / 4)
    # share >= 0.5 predicts red everywhere: TP 1, FP 2, FN 1 (blue of b) -> micro 2/5; macro (1/2 + 0) / 2.
    assert m["f1_micro"] == pytest.approx(2 / 5)
    assert m["f1_macro"] == pytest.approx(1 / 4)
    assert (m["map_head"], m["map_tail"]) == pytest.approx((1.0, 1 / 2))


def test_calibrated_thresholds_are_used_for_f1(manifest: Path, register_fake) -> None:
    register_fake("calibrated", lambda: ColourTagger([0.7, 0.9, 0.1]))
    result = evaluate_dataset(load_dataset(manifest), "test", ["calibrated"], run=RUN)
    row = result["models"][0]
    assert row["thresholds"] == "calibrated"
    # a: red .78 >= .7, blue .196 >= .1; b: blue .118 >= .1 (green .86 < .9); c: blue .353.
    # TP red(a), blue(b) = 2; FP blue(a), blue(c) = 2; FN 0 -> micro 4/6; macro red 1, blue 2/4 -> 3/4.
    assert row["metrics"]["f1_micro"] == pytest.approx(2 / 3)
    assert row["metrics"]["f1_macro"] == pytest.approx(3 / 4)


def test_failed_images_leave_every_row(manifest: Path, register_fake) -> None:
    calls = []
    for name in ("m1", "m2"):
        register_fake(name, lambda name=name: calls.append(name) or ColourTagger())
    ds = load_dataset(manifest)
    result = evaluate_dataset(ds, "test", ["m1", "m2"], run=RUN)
    assert calls == ["m1", "m2"]
    assert [r["model"] for r in result["models"]] == ["m1", "m2", "popularity"]
    assert result["models"][0]["metrics"] == result["models"][1]["metrics"]
    assert result["images"] == 3 and len(result["failures"]) == 1


def test_calibrate_on_the_evaluated_split_scores_once(
    manifest: Path, monkeypatch: pytest.MonkeyPatch, register_fake
) -> None:
    import hashtagger.evaluate.calibrate

    stored = {}
    monkeypatch.setattr(
        hashtagger.evaluate.calibrate,
        "store_thresholds",
        lambda path, thr, vocab, info: stored.update(path=path, thr=list(thr), info=info),
    )
    ckpt = manifest.parent / "model.pt"
    ckpt.write_bytes(b"stand-in: the loader below never reads it")
    tagger = ColourTagger()
    register_fake("colour-file", lambda: tagger, file=ckpt)
    out = io.StringIO()
    ds = load_dataset(manifest)
    result = evaluate_dataset(
        ds, "validation", [str(ckpt)], calibrate=True, run=RUN, progress=StderrProgress(out)
    )
    assert tagger.calls == 1  # one batch: validation scored once, for fitting and for the table
    # Validation: v1 red (250,5,5); v2 green, v3 blue, both (5,250,5). Every tag has < 3 positives, so all
    # share the global best threshold: at 5/255 everything is predicted (9 scores, 3 positives): F1 6/12;
    # at 250/255 the 3 largest scores (red v1, green v2, green v3) with 2 right: F1 4/6, the best.
    assert stored["thr"] == pytest.approx([250 / 255] * 3)
    assert stored["info"]["fallback_tags"] == 3 and stored["info"]["images"] == 3
    assert result["models"][0]["thresholds"] == "calibrated"
    assert result["calibration"]["split"] == "validation"
    assert "F1 is optimistic" in out.getvalue()


def test_popularity_from_vocabulary_ranks_without_train_split(tmp_path: Path, colour) -> None:
    paths = [_png(tmp_path / f"{n}.png", c) for n, c in TEST_COLOURS.items()]
    records = [
        Record(tmp_path / p, tags, "test")
        for p, tags in zip(paths, [("red",), ("blue",), ("red",)], strict=True)
    ]
    ds = Dataset("ranked", tmp_path, "harrison", records, vocab_file=["blue", "red", "green"])
    assert tag_frequencies(ds).source == "rank"
    assert dataset_vocabulary(ds, []) == ["blue", "red", "green"]
    result = evaluate_dataset(ds, "test", ["fake"], run=RUN)
    pop = result["models"][-1]
    assert result["popularity_source"] == "rank"
    assert pop["thresholds"] is None
    # Always "blue" first: only b (blue) is a hit at 1; F1 needs a score scale, ranks have none.
    assert pop["metrics"]["precision@1"] == pytest.approx(1 / 3)
    assert pop["metrics"]["f1_micro"] is None and pop["metrics"]["f1_macro"] is None


def test_no_popularity_without_train_split_or_vocabulary(tmp_path: Path, colour) -> None:
    (tmp_path / "labels.csv").write_text(f"path,tags\n{_png(tmp_path / 'a.png', (200, 0, 0))},red\n")
    ds = Dataset("x", tmp_path, "manifest", [Record(tmp_path / "a.png", ("red",), "test")])
    assert tag_frequencies(ds) is None
    assert dataset_vocabulary(ds, [("red", "sky"), ("sky",)]) == ["sky", "red"]
    result = evaluate_dataset(ds, "all", ["fake"], run=RUN)
    assert [r["model"] for r in result["models"]] == ["fake"]


def test_builtin_models_get_the_dataset_vocabulary() -> None:
    from hashtagger.models.registry import register_model, unregister_model

    seen = {}

    def load(
        *, vocabulary: list[str] | None = None, prior_weight: float | None = None, runtime: str = "auto"
    ) -> Tagger:
        seen.update(vocabulary=vocabulary, w=prior_weight)
        return ColourTagger()

    register_model("listening", role="builtin", description="records its arguments", loader=load)
    try:
        tagger = open_model(ModelSpec("listening", prior_weight=0.0), ["shirt", "t-shirt", "hat"])
    finally:
        unregister_model("listening")
    assert seen == {"vocabulary": ["shirt", "t-shirt", "hat"], "w": 0.0}  # a list: no temporary file
    assert tagger.name == "listening"


def test_all_images_unreadable_is_one_error(tmp_path: Path, colour) -> None:
    (tmp_path / "x.png").write_bytes(b"nope")
    ds = Dataset("x", tmp_path, "manifest", [Record(tmp_path / "x.png", ("red",), "test")])
    with pytest.raises(InputError, match="none of the 1 test images could be read; first: .*x.png"):
        evaluate_dataset(ds, "test", ["fake"], run=RUN)


# ---- the command ----


def _run(args: list[str]):  # noqa: ANN202 - click Result
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_cli_json_shape(manifest: Path, fake_models: list) -> None:
    r = _run(["evaluate", "--model", "fake", "--data", str(manifest), "--format", "json", "--workers", "0"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {"dataset", "split", "images", "models"} <= set(doc)
    assert (doc["dataset"], doc["split"], doc["images"]) == ("set", "test", 3)
    assert [m["model"] for m in doc["models"]] == ["fake", "popularity"]
    for m in doc["models"]:
        assert set(m["metrics"]) == set(METRIC_KEYS)
        for k in ("precision@1", "recall@5", "accuracy@10", "f1@10", "map", "f1_micro", "f1_macro"):
            assert 0.0 <= m["metrics"][k] <= 1.0
    assert "1 of 4 images could not be read" in r.stderr and "d.png" in r.stderr


def test_cli_json_floats_have_four_significant_digits(manifest: Path, fake_models: list) -> None:
    r = _run(["evaluate", "-m", "fake", "-d", str(manifest), "-f", "json", "--workers", "0"])
    assert r.exit_code == 0, r.output
    assert (
        '"precision@1": 0.3333,' in r.stdout and '"recall@1": 0.1667,' in r.stdout
    )  # not 0.3333333333333333
    numbers = re.findall(r"-?\d+\.\d+(?:e-?\d+)?", r.stdout)
    assert numbers and all(float(n) == float(f"{float(n):.4g}") for n in numbers), numbers
    # Small values keep their digits (zero-shot thresholds are ~0.003); the table and CSV are unchanged.
    doc = {
        "calibration": {"fallback_threshold": 0.0029411764705882353},
        "models": [{"metrics": {"map": None}}],
    }
    assert json.loads(render(doc, "json")) == {
        "calibration": {"fallback_threshold": 0.002941},
        "models": [{"metrics": {"map": None}}],
    }


def test_cli_table_and_csv(manifest: Path, fake_models: list) -> None:
    r = _run(["evaluate", "-m", "fake", "-d", str(manifest), "--workers", "0"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "set / test: 3 images (1 unreadable, left out), metrics in %"
    assert lines[1].split() == [
        "model",
        "tags",
        "P@1",
        "R@1",
        "A@1",
        "P@5",
        "R@5",
        "A@5",
        "P@10",
        "R@10",
        "A@10",
        "mAP",
        "F1mic",
        "F1mac",
    ]
    assert lines[3].split() == [
        "fake",
        "3",
        "33.3",
        "16.7",
        "33.3",
        "13.3",
        "50.0",
        "66.7",
        "6.7",
        "50.0",
        "66.7",
        "66.7",
        "50.0",
        "50.0",
    ]
    assert lines[4].split()[:2] == ["popularity", "3"]
    r = _run(["evaluate", "-m", "fake", "-d", str(manifest), "-f", "csv", "--workers", "0"])
    rows = r.stdout.splitlines()
    assert rows[0] == (
        "model,kind,vocabulary_size,thresholds,truth_in_vocabulary,dataset,split,images,"
        + ",".join(METRIC_KEYS)
    )
    assert rows[1].startswith("fake,colour,3,0.5,0.500000,set,test,3,0.333333,0.166667,")
    assert rows[2].startswith("popularity,popularity,3,")


def test_cli_agrees_with_predict_jsonl(manifest: Path, fake_models: list) -> None:
    """Must show: evaluate's numbers equal those recomputed from `predict --format jsonl`, same images."""
    r = _run(["evaluate", "-m", "fake", "-d", str(manifest), "-f", "json", "--workers", "0"])
    got = json.loads(r.stdout)["models"][0]["metrics"]
    records = [rec for rec in load_dataset(manifest).split("test")]
    p = CliRunner().invoke(
        cli,
        [
            "predict",
            *(str(rec.path) for rec in records),
            "-m",
            "fake",
            "-f",
            "jsonl",
            "--top-k",
            str(len(VOCAB)),
            "--workers",
            "0",
        ],
    )
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert [x["path"] for x in lines] == [str(rec.path) for rec in records]
    truth = {str(rec.path): set(rec.tags) for rec in records}
    ok = [x for x in lines if "error" not in x]
    assert len(ok) == 3 and {x["path"] for x in lines if "error" in x} == {str(records[3].path)}

    want: dict[str, float] = {}
    for k in (1, 5, 10):
        hits = [len({h["tag"] for h in x["hashtags"][:k]} & truth[x["path"]]) for x in ok]
        sizes = [len(truth[x["path"]]) for x in ok]
        p_k = sum(h / k for h in hits) / len(ok)
        r_k = sum(h / s for h, s in zip(hits, sizes, strict=True)) / len(ok)
        a_k = sum(h > 0 for h in hits) / len(ok)
        want |= {
            f"precision@{k}": p_k,
            f"recall@{k}": r_k,
            f"accuracy@{k}": a_k,
            f"f1@{k}": 2 * p_k * r_k / (p_k + r_k),
        }
    score = [{h["tag"]: h["score"] for h in x["hashtags"]} for x in ok]
    aps, tp, fp, fn, per_tag = [], 0, 0, 0, []
    for tag in VOCAB:
        pos = [tag in truth[x["path"]] for x in ok]
        order = sorted(range(len(ok)), key=lambda i: (-score[i][tag], i))
        hits, prec = 0, []
        for rank, i in enumerate(order, 1):
            if pos[i]:
                hits += 1
                prec.append(hits / rank)
        if prec:
            aps.append(sum(prec) / len(prec))
        pred = [score[i][tag] >= 0.5 for i in range(len(ok))]
        t_tp = sum(a and b for a, b in zip(pred, pos, strict=True))
        t_fp = sum(a and not b for a, b in zip(pred, pos, strict=True))
        t_fn = sum(b and not a for a, b in zip(pred, pos, strict=True))
        tp, fp, fn = tp + t_tp, fp + t_fp, fn + t_fn
        if any(pos):
            per_tag.append(2 * t_tp / (2 * t_tp + t_fp + t_fn))
    want |= {
        "map": sum(aps) / len(aps),
        "f1_micro": 2 * tp / (2 * tp + fp + fn),
        "f1_macro": sum(per_tag) / len(per_tag),
    }
    assert {k: got[k] for k in want} == pytest.approx(want, rel=5e-4)  # JSON keeps 4 significant digits


def test_cli_plot_writes_png(manifest: Path, fake_models: list, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "charts" / "compare.png"
    r = _run(["evaluate", "-m", "fake", "-d", str(manifest), "--plot", str(out), "-q", "--workers", "0"])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["compare.png"]  # no temporary file left
    assert f"wrote chart {out}" in r.stderr


def test_cli_plot_without_matplotlib_fails_before_scoring(
    manifest: Path, fake_models: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: object, **kw: object):  # noqa: ANN202
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    r = _run(["evaluate", "-m", "fake", "-d", str(manifest), "--plot", "x.png"])
    assert r.exit_code == 1
    assert r.stderr.strip() == "Error: --plot needs matplotlib: pip install 'hashtagger[plot]'"
    assert fake_models == []  # failed before loading any model


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "zeroshot", "--calibrate"], "--calibrate: zeroshot is not a checkpoint file (built-in"),
        (["-m", "fake", "-m", "fake", "--calibrate"], "--calibrate needs exactly one --model (the"),
        (["-m", "nope.pt"], "--model nope.pt: neither a built-in model"),
        (["-m", "fake", "--plot", "x.gif"], "--plot x.gif: unsupported chart type"),
    ],
)
def test_cli_errors_are_one_line(manifest: Path, fake_models: list, args: list[str], message: str) -> None:
    if "--plot" in args:
        pytest.importorskip("matplotlib")
    r = _run(["evaluate", "-d", str(manifest), *args])
    assert r.exit_code == 1
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr


def test_cli_missing_split_is_one_line(tmp_path: Path, fake_models: list) -> None:
    _png(tmp_path / "a.png", (1, 1, 1))
    (tmp_path / "labels.csv").write_text("path,split,tags\na.png,train,red\n")
    r = _run(["evaluate", "-m", "fake", "-d", str(tmp_path / "labels.csv")])
    assert r.exit_code == 1
    assert "no split 'test' in this dataset (splits: train, all)" in r.stderr
    r = _run(["evaluate", "-m", "fake", "-d", str(tmp_path / "labels.csv"), "--split", "all"])
    assert r.exit_code == 0 and "fake" in r.stdout
