"""The one progress protocol: a bar with total and ETA on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import io
from pathlib import Path

from hashtagger.progress import Progress, StderrProgress, duration, line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_log_file_gets_a_short_line_every_few_seconds() -> None:
    err, clock = io.StringIO(), Clock()
    progress = StderrProgress(err, every_s=5.0, clock=clock)
    progress("features", 0, 1200)
    for second in range(1, 13):  # one report a second for 12 s, 100 photos a second
        clock.now += 1
        progress("features", 100 * second, 1200)
    lines = err.getvalue().splitlines()
    # Lines at 5 s and 10 s, and a last one at 12 s since the stage lasted longer than the interval.
    assert lines == [
        "features: 500/1,200 photos (42%), 100.0 photo/s, ETA 7s",
        "features: 1,000/1,200 photos (83%), 100.0 photo/s, ETA 2s",
        "features: 1,200/1,200 photos (100%), 100.0 photo/s",
    ]


def test_a_short_stage_and_quiet_print_no_progress_but_messages_always_show() -> None:
    err, clock = io.StringIO(), Clock()
    progress = StderrProgress(err, clock=clock)
    clock.now += 1
    progress("tagging", 3, 3)
    assert err.getvalue() == ""  # done in a second: no line at all
    quiet = StderrProgress(err, quiet=True, clock=clock)
    for i in range(1, 10):
        clock.now += 10
        quiet("tagging", i, 9)
    quiet.message("error: a.jpg: cannot decode image")
    assert err.getvalue() == "error: a.jpg: cannot decode image\n"


def test_a_terminal_gets_a_bar_with_the_total_and_an_eta() -> None:
    err = Terminal()
    with StderrProgress(err) as progress:
        progress("tagging", 32, 128)
        progress("tagging", 64, 128, loss=0.51234)
        shown = str(progress.bar)  # what the bar reads now
    assert shown.startswith("tagging:  50%") and "64/128 [" in shown and "<" in shown  # elapsed<remaining
    assert "loss=0.5123" in shown and "tagging" in err.getvalue()


def test_bytes_and_unknown_totals_read_naturally() -> None:
    assert line("HARRISON_full.tar", 3_000_000, 6_000_000, 1_500_000.0, "B") == (
        "HARRISON_full.tar: 3.0/6.0 MB (50%), 1.5 MB/s, ETA 2s"
    )
    assert line("tagging", 64, None, 16.0) == "tagging: 64 photos, 16.0 photo/s"
    assert [duration(s) for s in (12, 380, 7500)] == ["12s", "6m20s", "2h05m"]


def test_the_base_class_shows_nothing(capsys) -> None:
    progress = Progress()
    progress("epoch 1/3", 4, 8, loss=0.3)
    progress.message("data: 8 training photos")
    progress.close()
    assert capsys.readouterr() == ("", "")


def test_predict_counts_against_a_total_when_the_files_are_known(tmp_path: Path, photo_factory) -> None:
    """`predict a.jpg b.jpg c.jpg` on a terminal shows 3/3, not a bare count."""
    import torch

    from hashtagger.image.preprocess import Preprocessing
    from hashtagger.models.checkpoint import save_checkpoint
    from hashtagger.models.classifier import architecture, build_classifier
    from hashtagger.models.spec import ModelSpec
    from hashtagger.predict.run import OutputStyle, run_predict
    from hashtagger.runtime import RunOptions

    model = build_classifier("resnet18", "none", 2, 0.5)
    ckpt = save_checkpoint(
        tmp_path / "m.pt",
        {
            "kind": "classifier",
            "arch": architecture(model, "resnet18"),
            "state_dict": model.state_dict(),
            "vocabulary": ["sea", "sun"],
            "preprocessing": Preprocessing(size=32).to_dict(),
            "config": {},
            "tag_counts": [1, 1],
            "epoch": 1,
            "metrics": {},
        },
    )
    photos = [str(photo_factory(f"{n}.jpg")) for n in "abc"]
    out, err = io.StringIO(), Terminal()
    torch.manual_seed(0)
    run = RunOptions(device="cpu", workers=0)
    style = OutputStyle(fmt="jsonl")
    failed = run_predict(
        photos, spec=ModelSpec(str(ckpt)), out=out, progress=StderrProgress(err), style=style, run=run
    )
    assert failed == 0 and len(out.getvalue().splitlines()) == 3
    assert "/3 [" in err.getvalue()  # a total: 0/3 ... 3/3, never a bare count


def test_every_stderr_line_takes_one_route_and_quiet_hides_only_notes() -> None:
    """A decoder warning logged deep in the library, a command's note and a warning all reach stderr through
    the command's StderrProgress (above its bar); --quiet hides the note, never the warning."""
    import logging

    from click.testing import CliRunner

    err = Terminal()
    with StderrProgress(err) as progress:
        progress("tagging", 1, 4)
        logging.getLogger("hashtagger.image").warning("warning: a.jpg: JPEG ends early")
        progress.note("tracing zeroshot to ONNX")
    shown = err.getvalue()
    assert "warning: a.jpg: JPEG ends early\n" in shown and "tracing zeroshot to ONNX\n" in shown
    quiet_err = io.StringIO()
    quiet = StderrProgress(quiet_err, quiet=True)
    quiet.note("tracing zeroshot to ONNX")
    logging.getLogger("hashtagger.image").warning("warning: b.jpg: JPEG ends early")
    assert quiet_err.getvalue() == "warning: b.jpg: JPEG ends early\n"

    from hashtagger.cli import cli

    r = CliRunner().invoke(cli, ["tags", "--search", "zzzz-no-such-tag"])
    assert r.exit_code == 1 and r.stdout == "" and "0 of " in r.stderr  # the count is a message, not a result
