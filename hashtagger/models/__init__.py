"""Model kinds behind one interface (`Tagger`), found by name or path through one registry.

`load_model` (here as `load_tagger` too) loads a built-in model by name, an exported model file, or a
checkpoint written by `hashtagger train`; `register_model` adds a kind. See `registry.py`.
"""

from __future__ import annotations

import os

from hashtagger.models.registry import (
    ModelEntry,
    get_model,
    list_models,
    load_model,
    model_names,
    register_model,
)


def load_tagger(
    spec: str | os.PathLike[str],
    *,
    vocab: str | os.PathLike[str] | None = None,
    prior_weight: float | None = None,
):  # noqa: ANN201 - Tagger, imported lazily
    """`load_model` with `vocab` as a file of tags (one per line), as `--vocab FILE` gives it."""
    vocabulary = None
    if vocab is not None:
        from hashtagger.models.labels import read_vocab_file

        vocabulary = read_vocab_file(vocab)
    return load_model(spec, vocabulary=vocabulary, prior_weight=prior_weight)


__all__ = [
    "ModelEntry",
    "get_model",
    "list_models",
    "load_model",
    "load_tagger",
    "model_names",
    "register_model",
]
