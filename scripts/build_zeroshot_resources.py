"""Build the zero-shot model's package data from the HARRISON tag lists and the text model.

    python scripts/build_zeroshot_resources.py [--harrison ../shared/data/harrison-meta]

Writes (only derived statistics and embeddings; the raw lists stay out of the repo):
  hashtagger/resources/tag_stats.npz   vocabulary (HARRISON's 997 tags, rank order), per-tag image
                                       counts, number of images, tag co-occurrence counts (sparse)
  hashtagger/resources/conse_embeddings.npz
                                       ImageNet class names and their MiniLM embeddings (plain name),
                                       MiniLM embeddings of the vocabulary (plain word), float16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hashtagger.models.textembed import embed_texts, load_text_model  # noqa: E402

RES = ROOT / "hashtagger" / "resources"


def imagenet_class_names() -> list[str]:
    """First (plainest) name of each ImageNet-1k class, in class-index order."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(i).split(",")[0].strip() for i in range(info.num_classes())]


def tag_statistics(harrison: Path) -> tuple[list[str], np.ndarray, int, np.ndarray]:
    vocab = [
        line.split()[0] for line in (harrison / "vocab_index.txt").read_text().splitlines() if line.strip()
    ]
    index = {t: i for i, t in enumerate(vocab)}
    counts = np.zeros(len(vocab), dtype=np.int64)
    cooc = np.zeros((len(vocab), len(vocab)), dtype=np.int64)
    n = 0
    for line in (harrison / "tag_list.txt").read_text().splitlines():
        ids = sorted({index[t] for t in line.lower().split() if t in index})
        n += 1
        if not ids:
            continue
        counts[ids] += 1
        cooc[np.ix_(ids, ids)] += 1
    return vocab, counts, n, cooc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--harrison", type=Path, default=ROOT.parent / "shared" / "data" / "harrison-meta")
    ap.add_argument("--out", type=Path, default=RES, help="folder for the two .npz files (default: package)")
    ap.add_argument("--classes", type=int, default=None, help="first N ImageNet classes only (a smoke test)")
    args = ap.parse_args()
    if not (args.harrison / "tag_list.txt").exists():
        sys.exit(f"{args.harrison}: no tag_list.txt (pass --harrison PATH to the HARRISON metadata)")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    vocab, counts, n, cooc = tag_statistics(args.harrison)
    rows, cols = np.nonzero(cooc)
    np.savez_compressed(
        out / "tag_stats.npz",
        vocabulary=np.array(vocab),
        counts=counts.astype(np.int32),
        n_images=np.int64(n),
        cooc_rows=rows.astype(np.int16),
        cooc_cols=cols.astype(np.int16),
        cooc_counts=cooc[rows, cols].astype(np.int32),
        source=np.array("HARRISON tag_list.txt / vocab_index.txt (Park, Li, Kim 2016)"),
    )
    print(f"tag_stats.npz: {len(vocab)} tags, {n} images, {len(rows)} co-occurring pairs")

    model = load_text_model()
    classes = imagenet_class_names()[: args.classes]
    class_emb = embed_texts(classes, model)
    vocab_emb = embed_texts(vocab, model)
    np.savez_compressed(
        out / "conse_embeddings.npz",
        class_names=np.array(classes),
        class_embeddings=class_emb.astype(np.float16),
        vocabulary=np.array(vocab),
        vocab_embeddings=vocab_emb.astype(np.float16),
        text_model=np.array("all-MiniLM-L6-v2"),
    )
    print(f"conse_embeddings.npz: {len(classes)} classes, {len(vocab)} tags, dim {class_emb.shape[1]}")


if __name__ == "__main__":
    main()
