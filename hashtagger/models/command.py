"""The `models` command: what the registry holds, and whether each model's needs are installed here."""

from __future__ import annotations

import json

import click

from hashtagger.options import domain_errors

_ROLE_TITLES = {
    "builtin": "Built-in models (hashtagger predict --model NAME)",
    "trainable": "Trainable kinds (model.kind in a train config)",
    "exported": "Exported model files (--model PATH)",
}


@click.command()
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
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
