"""Model kinds behind one interface (`Tagger`), and `load_tagger` to get one by name or checkpoint path."""

from __future__ import annotations

import os
from pathlib import Path

from hashtagger.errors import InputError
from hashtagger.models.base import Tagger

BUILTIN_MODELS = {
    "zeroshot": "ConSE zero-shot over EfficientNet-Lite0 ImageNet classes, blended with Instagram tag stats",
    "hierse": "HierSE zero-shot: like zeroshot, with label embeddings summed over the WordNet hierarchy",
}


def load_tagger(
    spec: str | os.PathLike[str],
    *,
    vocab: str | os.PathLike[str] | None = None,
    prior_weight: float | None = None,
) -> Tagger:
    """Load a built-in model by name, a checkpoint file written by `hashtagger train`, or an export
    (an .onnx file or an OpenVINO folder written by `hashtagger export`)."""
    name = str(spec)
    if name in BUILTIN_MODELS:
        from hashtagger.models.zeroshot import load_builtin

        return load_builtin(name, vocab=vocab, prior_weight=prior_weight)
    path = Path(name).expanduser()
    if not path.exists():
        known = ", ".join(BUILTIN_MODELS)
        raise InputError(
            f"--model {name}: neither a built-in model ({known}) nor an existing checkpoint file"
        )
    if vocab is not None:
        raise InputError(
            "--vocab applies to zero-shot models only; a trained checkpoint has its own vocabulary"
        )
    from hashtagger.models.exported import is_exported_path, load_exported

    if is_exported_path(path):
        return load_exported(path)
    from hashtagger.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    kind = ckpt["kind"]
    if kind == "classifier":
        from hashtagger.models.classifier import ClassifierTagger

        tagger: Tagger = ClassifierTagger.from_checkpoint(ckpt)
    elif kind == "bovw_svm":
        from hashtagger.models.bovw import BovwTagger

        tagger = BovwTagger.from_checkpoint(ckpt)
    else:
        raise InputError(f"{path}: unknown model kind '{kind}' (this hashtagger knows classifier, bovw_svm)")
    tagger.name = str(path)
    return tagger


__all__ = ["BUILTIN_MODELS", "Tagger", "load_tagger"]
