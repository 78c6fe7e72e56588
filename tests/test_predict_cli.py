"""How predict ends: closed pipes, Ctrl-C, a full disk, a closed stdout, thresholds that remove everything.

A tiny fake tagger stands in for the model (conftest's fake_model); test_predict.py runs the
real command end to end, including `| head -n 1`.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_predict_cli as run

from hashtagger.cli import main
from hashtagger.errors import OutputError
from hashtagger.files import GuardedOutput
from hashtagger.models.spec import ModelSpec
from hashtagger.predict.output import Writer
from hashtagger.predict.run import run_predict
from hashtagger.runtime import RunOptions


def test_closed_pipe_exits_0_quietly(photo_factory, fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    def closed(self, p):  # noqa: ANN001, ANN202
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(Writer, "write", closed)
    r = run(str(photo_factory("a.jpg")))
    assert r.exit_code == 0 and r.stderr == ""


def test_ctrl_c_exits_130(photo_factory, fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(batch):  # noqa: ANN001, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(fake_model.tagger, "tag", interrupted)
    r = run(str(photo_factory("a.jpg")))
    assert r.exit_code == 130 and r.stderr.strip() == "interrupted" and "Aborted" not in r.output


def _predict(paths: list[str], out) -> int:  # noqa: ANN001
    options = RunOptions(workers=0, quiet=True)
    return run_predict(paths, spec=ModelSpec("zeroshot"), out=out, run=options)  # fake_model's name


def test_full_disk_names_the_output_file(tmp_path: Path, photo_factory, fake_model) -> None:
    target = tmp_path / "tags.txt"

    class FullDisk(io.TextIOWrapper):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    with open(target, "wb") as raw, FullDisk(raw, encoding="utf-8") as out:
        with pytest.raises(OutputError, match=f"^no space left on the device for {target}; free some space"):
            _predict([str(photo_factory("a.jpg"))], out)


def test_full_device_through_the_cli(photo_factory, fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is not available on this system")
    with open("/dev/full", "w", encoding="utf-8") as full:
        with pytest.raises(OutputError, match="^no space left on the device for /dev/full"):
            _predict([str(photo_factory("a.jpg"))], full)
    other = GuardedOutput(io.StringIO())
    other.write("ordinary streams pass through")
    assert other.getvalue() == "ordinary streams pass through"


def test_closed_stdout_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "argv", ["hashtagger", "predict", "x.jpg"])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 1
    assert (
        capsys.readouterr().err == "error: standard output is closed; redirect it to a file or to /dev/null\n"
    )


def test_threshold_that_removes_everything_warns_once_and_counts(photo_factory, fake_model) -> None:
    paths = [str(photo_factory(f"{i}.jpg", seed=i)) for i in range(3)]
    r = run(*paths, "--threshold", "2")
    assert r.exit_code == 0
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2  # advice once, naming the first photo left without tags; then the count
    assert warnings[0].startswith(f"warning: --threshold 2 removed every hashtag of {paths[0]}; ")
    assert "the tag's share of what the photo shows" in warnings[0]  # the fake is a built-in model
    assert warnings[1] == "warning: --threshold 2 left 3 of 3 photos without hashtags"
    r = run(*paths, "--threshold", "0.1")
    assert "warning" not in r.stderr


@pytest.mark.parametrize(
    ("option", "value", "shown"),
    [
        ("-t", "nan", "'-t' / '--threshold'"),
        ("--threshold", "inf", "'-t' / '--threshold'"),
        ("-t", "-inf", "'-t' / '--threshold'"),
        ("--prior-weight", "nan", "'--prior-weight'"),
        ("--profile-weight", "nan", "'--profile-weight'"),
    ],
)
def test_nan_and_inf_numbers_are_usage_errors(option: str, value: str, shown: str) -> None:
    """A nan threshold compared with scores drops nothing: it acted as no threshold at all."""
    r = run("a.jpg", option, value)
    assert r.exit_code == 2
    assert f"Invalid value for {shown}: '{value}' is not a finite number." in r.stderr


def test_corrupt_embedding_cache_is_recomputed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hashtagger.models.textembed import cached_embeddings

    monkeypatch.setenv("HASHTAGGER_CACHE", str(tmp_path))
    calls: list[int] = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.full((3, 4), 0.5, dtype=np.float32)

    np.testing.assert_array_equal(cached_embeddings(["k"], "plain", 3, compute), compute())
    (cache,) = tmp_path.glob("vocab-plain-*.npy")
    good = cache.read_bytes()
    buf = io.BytesIO()
    np.save(buf, np.full((3, 4), np.nan, dtype=np.float32))
    for damaged in (b"garbage", good[: len(good) // 2], b"PK\x03\x04" + b"\0" * 40, buf.getvalue()):
        cache.write_bytes(damaged)
        before = len(calls)
        assert cached_embeddings(["k"], "plain", 3, compute).tolist() == compute().tolist()
        assert len(calls) == before + 2  # recomputed (plus the comparison's own call)
        assert np.load(cache).tolist() == compute().tolist()  # and rewritten


def test_written_keywords_say_what_the_photo_shows_unless_reach_tags_are_asked_for(photo_factory) -> None:
    """--write: content tags only by default (no #love in a Lightroom keyword list); --reach-keywords adds
    the reach tags; the same ranking, the reach tags just left out."""
    import json

    p = photo_factory("p.jpg", size=(64, 48))
    ranked = json.loads(run(str(p), "-k", "10", "-f", "json").stdout)[0]["hashtags"]
    reach = {h["tag"] for h in ranked if h["kind"] == "reach"}
    assert reach, "the default model should put some reach tags in a top 10"
    run(str(p), "-k", "10", "--write", "txt")
    written = set(p.with_suffix(".txt").read_text().strip().split(", "))
    assert written and not written & reach
    # the top 10's content tags, then the next content tags in place of the reach tags
    assert {h["tag"] for h in ranked if h["kind"] == "content"} <= written and len(written) == 10
    p.with_suffix(".txt").unlink()
    run(str(p), "-k", "10", "--write", "txt", "--reach-keywords")
    assert set(p.with_suffix(".txt").read_text().strip().split(", ")) == {h["tag"] for h in ranked}
    bad = run(str(p), "--reach-keywords")
    assert bad.exit_code == 2 and "--reach-keywords goes with --write" in bad.output
