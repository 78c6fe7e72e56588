"""Build the zero-shot model's package data from the HARRISON tag lists, WordNet and the text model.

    python scripts/build_zeroshot_resources.py [--harrison ../shared/data/harrison-meta]

Needs the HARRISON tag lists, WordNet 3.0 (apt-get install wordnet-base), NLTK, timm (ImageNet's WordNet
ids) and the text model ('hashtagger[hierse]'). Writes (only derived statistics, words and embeddings):
  hashtagger/resources/tag_stats.npz   HARRISON's 997 tags (rank order), per-tag image counts, number of
                                       images, tag co-occurrence counts (sparse)
  hashtagger/resources/conse_embeddings.npz
                                       ImageNet class names and their MiniLM embeddings (plain name);
                                       the default vocabulary = HARRISON's tags + EVERYDAY below (the
                                       things and scenes of everyday photos, as people hashtag them) and
                                       its MiniLM embeddings, float16; each class's WordNet words (its own
                                       lemmas and its ancestors', with their distance), which
                                       hashtagger.models.classmap matches against any vocabulary
"""

from __future__ import annotations

import argparse
import functools
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


#: Concrete things and scenes of everyday photos that HARRISON's 997 hashtags lack, in hashtag form
#: (#horse, not #sorrel): COCO's objects and the sports they are used in, common animals, vehicles, food,
#: objects, places, sky and art. Not COCO's traffic light, parking meter, stop sign, fire hydrant, toaster,
#: hair drier and toothbrush: the detector's scores for those put them on road signs and clothes in
#: MSRC-v2 and clothing-small (31 of 4,000 photos' top 5, nearly all wrong), and ImageNet's tennis ball,
#: golf ball, shower curtain and quilt classes put #tennis, #golf, #bathroom, #bedroom on hats, lawns and
#: clothes; #tennis, #baseball, #skateboarding come from the detector's racket, bat, glove, skateboard.
EVERYDAY = """
animal wildlife zoo horse pony foal cow bull calf cattle sheep lamb goat pig elephant bear polarbear
zebra giraffe monkey gorilla lion tiger leopard cheetah fox wolf deer rabbit bunny squirrel mouse
hamster camel kangaroo koala panda otter seal whale dolphin shark goldfish turtle tortoise snake
lizard frog crocodile spider butterfly bee insect beetle ant snail crab lobster jellyfish duck swan
goose owl eagle hawk parrot chicken hen rooster penguin flamingo pigeon seagull hummingbird peacock
ostrich truck bus taxi tram motorcycle bicycle scooter ship sailboat yacht canoe kayak airplane
helicopter jet rocket spaceship tractor ambulance firetruck locomotive stars moon galaxy space
astronomy universe nebula planet storm lightning fog ocean waterfall hill valley volcano desert
jungle field meadow bridge skyline castle temple pagoda palace tower lighthouse barn farm harbor
market library stadium airport station cave cliff canyon glacier pizza burger hamburger hotdog
sandwich pasta spaghetti sushi soup bread donut cookie cheese egg lemon grape pineapple watermelon
cherry vegetables broccoli carrot tomato corn mushroom pepper espresso juice milk umbrella backpack
handbag suitcase tie clock phone laptop computer keyboard tv television vase scissors bottle cup mug
bowl plate fork knife spoon chair sofa couch bench table lamp toilet sink oven microwave fridge
refrigerator kite balloon ball frisbee skateboard surfboard racket piano violin drum teddybear toy
doll cap helmet shoes sneakers boots sunglasses glasses ring coat sculpture statue museum mural
person woman crowd kids tennis baseball skateboarding
""".split()


@functools.cache
def ancestors(synset: object) -> dict[object, int]:
    """The synset (0) and everything it is a kind of, with the shortest hypernym distance (hierse's
    ancestor_distances, all the way up); cached, since every class's lemmas ask about the same ones."""
    from hashtagger.models.hierse import ancestor_distances, synset_parents

    return ancestor_distances(synset, synset_parents, max_depth=None)


def head_names(wn: object, synset: object, head: str) -> bool:
    """Whether `synset` is a kind of some noun sense of `head`, or of what that sense is a kind of (a comic
    book is a magazine to WordNet, but both are publications, as a book is)."""
    from hashtagger.models.hierse import synset_parents

    senses = set(wn.synsets(head, pos="n"))  # type: ignore[attr-defined]
    senses |= {parent for sense in senses for parent in synset_parents(sense)}
    return not senses.isdisjoint(ancestors(synset))


def rare_sense(wn: object, synset: object, word: str) -> bool:
    """Whether `word` names `synset` only in a sense people rarely mean: WordNet's sense counts give it none
    here while an unrelated sense has 5 or more ('dress' for apparel, so jeans said #dress; 'wood' for
    woodwinds; 'light' for a lighter). Food senses are kept: the counts rarely see them (food as solid
    food, ImageNet's cup of punch). (A lion still reaches #cat, through 'big cat', a kind of feline.)"""
    if synset.lexname() == "noun.food":  # type: ignore[attr-defined]
        return False
    counts = {lemma.synset(): lemma.count() for lemma in wn.lemmas(word, pos="n")}  # type: ignore[attr-defined]
    if counts.get(synset, 0) > 0 or max(counts.values(), default=0) < 5:
        return False
    counted = {sense for sense, n in counts.items() if n > 0}
    return counted.isdisjoint(ancestors(synset))


def class_words() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ImageNet class's WordNet words with their distance: its own lemmas (0), its parents' (1), ...

    A lemma is kept in hashtag form ('ice_cream' -> 'icecream') and, when it has several words, also by
    its head noun ('coffee_mug' -> 'mug'), but only where the thing is a kind of what the head noun names
    (head_names): a garden truck (produce) is no #truck, a sea lion no #lion, a house of God no #god. A
    one-word lemma in a sense people rarely mean by it is left out (rare_sense).
    Returned flat: class index, word, distance.
    """
    import re

    from hashtagger.models.hierse import imagenet_synsets
    from hashtagger.models.labels import tag_key
    from hashtagger.models.wordnet import load_wordnet

    wn = load_wordnet()
    rows: list[tuple[int, str, int]] = []
    for c, synset in enumerate(imagenet_synsets(wn)):
        words: dict[str, int] = {}
        for current, depth in sorted(ancestors(synset).items(), key=lambda item: item[1]):
            for lemma in current.lemmas():
                parts = [p for p in re.split(r"[_\-\s]+", lemma.name().lower()) if p]
                if len(parts) == 1 and rare_sense(wn, current, parts[0]):
                    continue
                heads = [parts[-1]] if len(parts) > 1 and head_names(wn, current, parts[-1]) else []
                for word in map(tag_key, dict.fromkeys(["".join(parts), *heads])):
                    if word:
                        words.setdefault(word, depth)
        rows += [(c, w, d) for w, d in words.items()]
    index, word, depth = zip(*rows, strict=True)
    return np.array(index, dtype=np.int16), np.array(word), np.array(depth, dtype=np.int8)


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
    default_vocab = list(dict.fromkeys(vocab + EVERYDAY))
    vocab_emb = embed_texts(default_vocab, model)
    word_class, word, word_depth = class_words()
    keep = word_class < len(classes)
    np.savez_compressed(
        out / "conse_embeddings.npz",
        class_names=np.array(classes),
        class_embeddings=class_emb.astype(np.float16),
        vocabulary=np.array(default_vocab),
        vocab_embeddings=vocab_emb.astype(np.float16),
        class_word_class=word_class[keep],
        class_word=word[keep],
        class_word_depth=word_depth[keep],
        text_model=np.array("all-MiniLM-L6-v2"),
    )
    print(
        f"conse_embeddings.npz: {len(classes)} classes, {len(default_vocab)} tags "
        f"({len(vocab)} HARRISON + {len(default_vocab) - len(vocab)} everyday), dim {class_emb.shape[1]}, "
        f"{int(keep.sum())} class words"
    )


if __name__ == "__main__":
    main()
