"""--profile: a user's own posts become a personal tag prior that re-ranks suggestions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hashtagger.cli import cli
from hashtagger.errors import InputError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models.base import Tagger
from hashtagger.profile import RerankedTagger, apply_profile, personal_prior, read_profile
from hashtagger.rank import SocialPrior


def run(*args: str):
    return CliRunner().invoke(cli, ["predict", *args, "--quiet", "--workers", "1"])


def test_posts_file_and_manifest_are_read(tmp_path: Path) -> None:
    posts = tmp_path / "posts.txt"
    posts.write_text("#Dog #beach\n\n dog, sunset \n", encoding="utf-8")
    assert read_profile(posts) == [("dog", "beach"), ("dog", "sunset")]
    manifest = tmp_path / "mine.csv"
    manifest.write_text("path,tags\na.jpg,dog beach\nb.jpg,#cat\n", encoding="utf-8")
    assert sorted(read_profile(manifest)) == [("cat",), ("dog", "beach")]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.txt", "\n  \n", "no hashtags"),
        ("bad.csv", "foo,bar\nx,y\n", "needs a path column"),
        ("latin1.txt", b"caf\xe9\n", "not UTF-8"),
        ("deep.jsonl", '{"path": "a.jpg", "tags": ' + "[" * 99_999 + "]" * 99_999 + "}", "jsonl:1: refused"),
    ],
)
def test_bad_profiles_are_one_line(tmp_path: Path, name: str, text: str | bytes, message: str) -> None:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError, match=message) as e:
        read_profile(p)
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="no such file"):
        read_profile(tmp_path / "missing.txt")


def test_a_fifo_profile_is_not_a_regular_file_and_does_not_hang(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "posts.txt"
    os.mkfifo(fifo)
    errors: list[Exception] = []
    reader = threading.Thread(target=lambda: errors.append(_error_of(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading a FIFO profile hangs"
    assert str(errors[0]) == f"--profile {fifo}: not a regular file (a pipe, device or socket)"


def _error_of(path: Path) -> Exception:
    try:
        read_profile(path)
    except InputError as e:
        return e
    raise AssertionError(f"{path} was read as a profile")


def test_personal_prior_by_hand() -> None:
    social = personal_prior([("dog", "beach"), ("dog",), ("zzz",)], ["dog", "beach", "cat"])
    np.testing.assert_allclose(social.prior, [2 / 3, 1 / 3, 0.0], rtol=1e-6)
    # P(. | dog) = [2, 1, 0] / 2, normalised; P(. | beach) = [1, 1, 0]; cat never used -> the prior
    np.testing.assert_allclose(social.cond[0], [2 / 3, 1 / 3, 0.0], rtol=1e-6)
    np.testing.assert_allclose(social.cond[1], [0.5, 0.5, 0.0], rtol=1e-6)
    np.testing.assert_allclose(social.cond[2], social.prior, rtol=1e-6)
    with pytest.raises(InputError, match="none of its 2 tags is in the model's vocabulary"):
        personal_prior([("zzz", "yyy")], ["dog"])


class _Fixed(Tagger):
    """A trained model stand-in: the same scores for every photo."""

    def __init__(self, vocabulary: list[str], scores: list[float]) -> None:
        self.kind, self.name, self.vocabulary = "classifier", "fixed", vocabulary
        self.preprocessing = Preprocessing(size=8)
        self.scores = torch.tensor([scores])

    def tag(self, batch: torch.Tensor) -> torch.Tensor:
        return self.scores.repeat(batch.shape[0], 1)


def test_checkpoints_are_re_ranked_towards_the_users_tags(tmp_path: Path) -> None:
    vocab = [f"t{i}" for i in range(40)]
    model = _Fixed(vocab, [0.9, 0.8, 0.7] + [0.1] * 37)
    posts = tmp_path / "posts.txt"
    posts.write_text("t30 t31\nt30\nt30 t2\n" * 5, encoding="utf-8")
    reranked = apply_profile(model, posts, weight=1.0)
    assert isinstance(reranked, RerankedTagger) and reranked.thresholds is None
    scores, parts = reranked.score_explained(np.zeros((1, 3, 8, 8), dtype=np.uint8))
    top = [vocab[i] for i in np.argsort(-scores[0])[:10]]
    # what the model sees first, then the user's habit (which the photo does not show) among the next
    assert top[:3] == ["t0", "t1", "t2"] and "t30" in top and parts.reach[0, 30]
    assert parts.popularity[0, 30] > parts.popularity[0, 1]


def test_zeroshot_profile_raises_the_users_tags(photo_factory, tmp_path: Path) -> None:
    photo = photo_factory("p.png", size=(64, 48))
    posts = tmp_path / "posts.txt"
    posts.write_text("#guitar #music\n#guitar\n" * 10, encoding="utf-8")
    plain = run(str(photo), "-k", "10", "--no-hash")
    mine = run(str(photo), "-k", "10", "--no-hash", "--profile", str(posts), "--profile-weight", "1")
    assert plain.exit_code == 0 and mine.exit_code == 0, mine.stderr
    assert "guitar" not in plain.stdout.split() and "guitar" in mine.stdout.split()
    r = run(str(photo), "-k", "3", "--format", "jsonl", "--profile", str(posts))
    rec = json.loads(r.stdout)
    assert all({"visual", "social", "cooccurrence", "popularity", "kind"} <= set(h) for h in rec["hashtags"])


def test_bad_profile_on_the_command_line(photo_factory, tmp_path: Path) -> None:
    photo = photo_factory("p.png")
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    r = run(str(photo), "--profile", str(empty))
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "no hashtags" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_short_history_gets_a_small_share() -> None:
    from hashtagger.profile import profile_share

    assert profile_share(0.5, 20) == 0.25 and profile_share(0.5, 2) < 0.05 and profile_share(1.0, 2) == 1.0


def test_mixed_social_prior_keeps_harrison_reach_tags() -> None:
    vocab = ["love", "dog", "skateboard"]
    harrison = SocialPrior.harrison(vocab)
    mixed = harrison.mixed(personal_prior([("skateboard",)], vocab), 1.0)
    np.testing.assert_allclose(mixed.reach_prior, harrison.prior)


def test_a_profile_never_puts_a_tag_the_photo_does_not_show_first(photo_factory, tmp_path: Path) -> None:
    """A cat lover's profile must not make #cat the first tag of a photo that shows no cat; it may still
    suggest #cat further down, after what the photo shows."""
    from hashtagger.models import load_tagger
    from hashtagger.profile import apply_profile

    posts = tmp_path / "posts.txt"
    posts.write_text("#cat #catsofinstagram #kitty\n#cat #cute\n" * 40, encoding="utf-8")
    tagger = apply_profile(load_tagger("zeroshot"), posts, weight=1.0)
    vocab = tagger.vocabulary
    q = np.full((1, len(vocab)), 1e-4, dtype=np.float32)
    q[0, vocab.index("coffee")], q[0, vocab.index("cup")] = 0.6, 0.2
    ranked = tagger.ranker.rank(q)
    order = [vocab[i] for i in np.argsort(-ranked.score[0])[:5]]
    assert order[0] == "coffee" and "cat" in order and ranked.reach[0, vocab.index("cat")]
