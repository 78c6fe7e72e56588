"""The `models` command: what the registry holds, and whether each model's needs are installed here."""

from __future__ import annotations

import json

import click

from hashtagger.choices import LIST_FORMATS
from hashtagger.options import domain_errors

_ROLE_TITLES = {
    "builtin": "Built-in models (hashtagger predict --model NAME)",
    "trainable": "Trainable kinds (model.kind in a train config)",
    "exported": "Exported model files (--model PATH)",
}


@click.command()
@click.option("-f", "--format", "fmt", type=click.Choice(LIST_FORMATS), default="text", show_default=True)
@domain_errors
def models(fmt: str) -> None:
    """List the built-in models and trainable kinds, with what each needs and whether it is installed.

    \b
    hashtagger models
    hashtagger models --format json
    """
    from hashtagger.models.registry import list_models

    entries = list_models()
    if fmt == "json":
        click.echo(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    for role, title in _ROLE_TITLES.items():
        group = [e for e in entries if e.role == role]
        if not group:
            continue
        click.echo(title)
        for e in group:
            click.echo(f"  {e.name:<12} {e.description}")
            needs_by_use = (
                ("needs", e.requires),
                ("own --vocab needs", e.vocab_requires),
                ("training needs", e.train_requires),
            )
            for label, needs in needs_by_use:
                for r in needs:
                    state = "installed" if r.met() else f"missing: {r.install}"
                    click.echo(f"  {'':<12}   {label} {r.name} ({state})")
        click.echo("")


@click.command()
@click.argument("model", default="zeroshot", metavar="[MODEL]")
@click.option("-s", "--search", metavar="WORD", help="Only the tags that contain WORD.")
@click.option(
    "--vocab", type=click.Path(dir_okay=False), help="A built-in model over your tags (one per line)."
)
@click.option("-f", "--format", "fmt", type=click.Choice(LIST_FORMATS), default="text", show_default=True)
@domain_errors
def tags(model: str, search: str | None, vocab: str | None, fmt: str) -> None:
    """List what a model can say: every hashtag of its vocabulary, with how many of HARRISON's 57,383
    Instagram posts use it ('-': no statistics). Exit status 1 when --search matches nothing.

    \b
    hashtagger tags                       # the default model's tags
    hashtagger tags --search horse        # is #horse in it?
    hashtagger tags runs/clothing/best.pt --format json
    """
    from hashtagger.models import ModelSpec, open_tagger
    from hashtagger.models.vocabulary import model_tags
    from hashtagger.progress import StderrProgress

    tagger = open_tagger(ModelSpec(model, vocab))
    found = model_tags(tagger.vocabulary, search)
    if fmt == "json":
        click.echo(json.dumps([t.to_dict() for t in found], indent=2))
    else:
        for t in found:
            click.echo(f"#{t.tag}\t{'-' if t.posts is None else t.posts}")
    known = sum(t.posts is not None for t in found)
    StderrProgress().message(f"{len(found)} of {len(tagger.vocabulary)} tags ({known} with statistics)")
    if search and not found:
        raise click.exceptions.Exit(1)
