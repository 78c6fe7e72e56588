"""The command group itself: version, help on every command, and a start-up that never imports torch."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from hashtagger import __version__
from hashtagger.cli import cli

COMMANDS = ["tags", "predict", "models", "train", "evaluate", "export", "serve", "dataset", "download"]


def test_version() -> None:
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    r = CliRunner().invoke(cli, [command, "--help"])
    assert r.exit_code == 0
    assert f"hashtagger {command}" in r.output  # an example line users can copy


def test_only_working_commands_are_registered() -> None:
    assert sorted(cli.commands) == sorted(COMMANDS)


def test_help_does_not_import_heavy_libraries() -> None:
    """`hashtagger --help` must answer at once: no torch, numpy, PIL or cv2 at start-up."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hashtagger", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "predict" in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "click" in imported  # the import log was read
    assert not imported & {"torch", "numpy", "PIL", "cv2", "timm", "sklearn"}


def test_predict_evaluate_and_serve_share_their_model_and_run_options() -> None:
    """An option about which model or how it runs is written once (options.model_options / run_options)
    and reaches all three commands the same: same name, same choices, same help."""

    def shared(name: str) -> dict[str, tuple]:
        params = {p.name: p for p in cli.commands[name].params if isinstance(p, click.Option)}
        keys = ("prior_weight", "device", "precision", "runtime", "batch_size", "workers", "quiet")
        return {k: (params[k].opts, params[k].help, getattr(params[k].type, "choices", None)) for k in keys}

    assert shared("predict") == shared("evaluate") == shared("serve")
    r = CliRunner().invoke(cli, ["evaluate", "-m", "zeroshot", "--data", "x", "--runtime", "tpu"])
    assert r.exit_code == 2 and "'tpu' is not one of 'auto', 'onnx', 'openvino', 'torch'" in r.output


def test_export_takes_the_same_vocabulary_and_prior_weight_options() -> None:
    """export names its model as an argument, but its --vocab and --prior-weight are predict's, checks too."""

    def opts(name: str) -> dict[str, tuple]:
        params = {p.name: p for p in cli.commands[name].params if isinstance(p, click.Option)}
        return {k: (params[k].opts, params[k].help, repr(params[k].type)) for k in ("vocab", "prior_weight")}

    assert opts("export") == opts("predict")
    for bad in ("nan", "inf", "1.5"):
        r = CliRunner().invoke(cli, ["export", "zeroshot", "--prior-weight", bad])
        assert r.exit_code == 2 and "--prior-weight" in r.output, (bad, r.output)
