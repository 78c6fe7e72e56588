"""Colours: the colour tags come from the photo's pixels, not from the classifier's guess, the same way on
PyTorch and in an export; a photo without a colour never gets that colour's tag, not even from what people
post alongside another one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hashtagger.cli import cli
from hashtagger.errors import CheckpointError
from hashtagger.models.colours import COLOURS, ColourTags, colour_shares
from hashtagger.models.steps import apply_seen
from hashtagger.rank import Ranker, Ranking, SocialPrior


def photo(*halves: tuple[int, int, int], size: int = 32) -> np.ndarray:
    """A uint8 NCHW batch of one photo: its rows split evenly between the given RGB colours."""
    x = np.zeros((1, 3, size, size), dtype=np.uint8)
    rows = np.array_split(np.arange(size), len(halves))
    for rgb, r in zip(halves, rows, strict=True):
        x[0, :, r[0] : r[-1] + 1, :] = np.array(rgb, dtype=np.uint8)[:, None, None]
    return x


def shares(x: np.ndarray) -> dict[str, float]:
    return {c: round(float(v), 3) for c, v in zip(COLOURS, colour_shares(x)[0][: len(COLOURS)], strict=True)}


@pytest.mark.parametrize(
    ("rgb", "colour"),
    [
        ((220, 30, 30), "red"),
        ((240, 140, 20), "orange"),
        ((240, 220, 30), "yellow"),
        ((40, 160, 60), "green"),
        ((30, 90, 220), "blue"),
        ((120, 40, 200), "purple"),
        ((240, 120, 200), "pink"),
        ((240, 150, 165), "pink"),  # a light red is pink
        ((120, 70, 30), "brown"),
        ((10, 10, 10), "black"),
        ((250, 250, 250), "white"),
    ],
)
def test_a_plain_photo_is_all_its_colour(rgb: tuple[int, int, int], colour: str) -> None:
    got = shares(photo(rgb))
    assert got[colour] == 1.0 and sum(got.values()) == 1.0, got


def test_half_and_half_and_the_black_and_white_measure() -> None:
    got = shares(photo((240, 220, 30), (30, 90, 220)))
    assert got["yellow"] == got["blue"] == 0.5
    grey = colour_shares(photo((90, 90, 90), (200, 200, 200)))[0, -1]
    tinted = colour_shares(photo((90, 100, 90), (200, 190, 200)))[0, -1]
    dark = colour_shares(photo((5, 5, 5)))[0, -1]
    assert grey == 0.0 and tinted > 0.03 and dark == 1.0  # a dark photo is not black and white


def test_the_pixels_decide_the_colour_tags_by_hand() -> None:
    """The model's guess for #yellow and #blackandwhite is dropped; a yellow photo gets share * p of q."""
    vocab = ["cat", "yellow", "blackandwhite", "monochrome"]
    tags = ColourTags(vocab, share=0.1, share50=0.3, slope=15.0)
    q = np.array([[0.5, 0.3, 0.2, 0.0]] * 3, dtype=np.float32)
    batch = np.concatenate([photo((240, 220, 30)), photo((120, 120, 120)), photo((200, 60, 20))])
    out = tags.move(q, tags.measure(batch))
    p_yellow = 1.0 / (1.0 + np.exp(-15.0 * (1.0 - 0.3)))
    np.testing.assert_allclose(out[0], [0.5 / 0.5 * (1 - 0.1 * p_yellow), 0.1 * p_yellow, 0, 0], rtol=1e-5)
    np.testing.assert_allclose(out[1], [0.9, 0.0, 0.1 / 1.3, 0.03 / 1.3], rtol=1e-5)  # grey: 1 and 0.3
    np.testing.assert_allclose(out[2], [1.0, 0.0, 0.0, 0.0], atol=1e-7)  # red, which has no tag here


def test_a_measured_absent_colour_is_not_lifted_by_what_people_post() -> None:
    """#yellow co-occurs with #blue in everyone's posts; on a blue photo it still stays out."""
    vocab = ["sky", "blue", "yellow"]
    cond = np.array([[0.4, 0.3, 0.3], [0.1, 0.2, 0.7], [0.1, 0.7, 0.2]], dtype=np.float32)
    social = SocialPrior(np.array([0.2, 0.3, 0.5], np.float32), cond, "test")
    ranker = Ranker(Ranking(prior_weight=0.5, reach_slots=0, diversity=0), social)
    q, absent = apply_seen(
        np.array([[0.4, 0.3, 0.3]], np.float32), photo((30, 90, 220)), objects=None, people=None,
        colours=ColourTags(vocab),
    )  # fmt: skip
    assert absent is not None and absent.tolist() == [[False, False, True]]
    r = ranker.rank(q, absent)
    assert q[0, 2] == 0.0 and r.score[0, 2] == 0.0 < r.score[0, 1]
    assert r.cooccurrence[0, 2] == r.popularity[0, 2] == 0.0


def test_a_vocabulary_without_colour_tags_is_left_alone() -> None:
    assert not ColourTags(["cat", "dog"]).active
    q = np.array([[0.25, 0.75]], np.float32)
    out, absent = apply_seen(q, photo((240, 220, 30)), objects=None, people=None, colours=None)
    np.testing.assert_array_equal(out, q)
    assert absent is None


@pytest.mark.parametrize(
    "bad",
    [{"share": 2, "share50": 0.3, "slope": 15}, {"share": 0.1, "share50": float("inf"), "slope": 15}, []],
)
def test_colour_settings_in_an_export_are_checked(bad: object) -> None:
    with pytest.raises(CheckpointError) as e:
        ColourTags.from_dict(bad, ["yellow"])
    assert "\n" not in str(e.value) and str(e.value).startswith("colours")


def test_an_export_carries_the_colours_step(tmp_path: Path) -> None:
    from test_export_crafted import crafted

    from hashtagger.models.exported import encode_array, load_exported

    settings = {"share": 0.2, "share50": 0.25, "slope": 10.0}
    tagger = load_exported(
        crafted(
            tmp_path / "zs.onnx", tags=3, outputs=("scores", "content"), ranking={"prior_weight": 0.0},
            label_embeddings=encode_array(np.ones((3, 4), np.float32)), vocabulary=["cat", "yellow", "sky"],
            colours=settings,
        )
    )  # fmt: skip
    assert tagger.steps["colours"].to_dict() == settings


def test_predict_says_blackandwhite_for_a_black_and_white_photo(tmp_path: Path) -> None:
    """End to end with the default model on its default runtime: a grey photo is #blackandwhite, and a
    colour photo is not."""
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (96, 96), dtype=np.uint8)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "grey.png")
    Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(tmp_path / "colour.png")
    result = CliRunner().invoke(cli, ["predict", str(tmp_path), "-k", "10", "-q"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split("\t") for line in result.output.splitlines())
    assert "#blackandwhite" in lines[str(tmp_path / "grey.png")].split()
    assert "#blackandwhite" not in lines[str(tmp_path / "colour.png")].split()
