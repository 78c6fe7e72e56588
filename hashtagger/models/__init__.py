"""Model kinds behind one interface (`Tagger`), found by name or path through one registry.

`load_model` (here as `load_tagger` too) loads a built-in model by name, an exported model file, or a
checkpoint written by `hashtagger train`; `register_model` adds a kind. See `registry.py`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from hashtagger.models.registry import (
    ModelEntry,
    get_model,
    list_models,
    load_model,
    model_names,
    register_model,
)
from hashtagger.models.spec import ModelSpec

if TYPE_CHECKING:
    from hashtagger.models.base import Tagger
    from hashtagger.runtime import RunOptions


def load_tagger(
    spec: str | os.PathLike[str],
    *,
    vocab: str | os.PathLike[str] | tuple[str, ...] | list[str] | None = None,
    prior_weight: float | None = None,
    runtime: str = "auto",
) -> Tagger:
    """`load_model` with `vocab` as a file of tags (one per line), as `--vocab FILE` gives it, or the tags."""
    vocabulary = None
    if isinstance(vocab, (tuple, list)):
        vocabulary = list(vocab)
    elif vocab is not None:
        from hashtagger.models.labels import read_vocab_file

        vocabulary = read_vocab_file(vocab)
    return load_model(spec, vocabulary=vocabulary, prior_weight=prior_weight, runtime=runtime)


def open_tagger(spec: ModelSpec, run: RunOptions | None = None) -> Tagger:
    """The one way in: load the model on the runtime `run` asks for, apply the profile, then `prepare`
    it (device, precision, threads; `tagger.device` says where it runs). Without `run`: DEFAULT_RUN."""
    from hashtagger.runtime import DEFAULT_RUN, prepare

    run = run or DEFAULT_RUN
    runtime = "torch" if run.wants_torch() else run.runtime
    tagger = load_tagger(spec.model, vocab=spec.vocab, prior_weight=spec.prior_weight, runtime=runtime)
    if spec.profile is not None:
        from hashtagger.profile import apply_profile

        tagger = apply_profile(tagger, spec.profile, spec.profile_weight)
    prepare(tagger, run)
    return tagger


__all__ = [
    "ModelEntry",
    "ModelSpec",
    "get_model",
    "list_models",
    "load_model",
    "load_tagger",
    "model_names",
    "open_tagger",
    "register_model",
]
