"""ImageNet classes -> the hashtags that name them, by their WordNet words; and each label's hubness.

ConSE alone finds a photo's tags through the text embedding, where a few labels sit close to everything
(#dog, #black) and the plain word for what the classifier saw (#horse for 'sorrel') can lose to a
neighbour. So the classifier's probabilities also reach the tags that *name* its classes directly:

    direct_t = max(0, sum_c p_c M[c, t] - base_rate * mean_c M[c, t])

M[c, t] is 1 for the nearest of a class's WordNet words that is in the vocabulary (its own name, else its
closest ancestor: 'sorrel' -> horse), then `decay` for each further one (-> animal). The base-rate term
takes away what a photo of nothing in particular would get (ImageNet's 118 dog breeds would otherwise
put #dog on every photo). The words ship in conse_embeddings.npz (scripts/build_zeroshot_resources.py);
any vocabulary, a custom one too, is matched against them here, without WordNet.
"""

from __future__ import annotations

import numpy as np

from hashtagger.models.labels import load_npz, tag_key, unit_rows

#: Words whose WordNet sense among the classes is not the hashtag's: 'good' (a commodity), 'game' (hunted
#: animals), 'bar' (a sandbar's ridge, not a pub), 'model' (a scale model, not a person), 'kite' (ImageNet's
#: kite is the bird of prey, so hawks and eagles got #kite; #kite is the toy, which objects.py sees),
#: 'jacket' (a book jacket: posters and paintings got #jacket), 'spring' (a geyser's), 'depression' (a
#: valley's), 'soul' (any person), 'paint' (lipstick), 'design' (a totem pole), 'outfit' (a carpenter's
#: kit), 'accessory' (a seat belt), 'pool' (a rain barrel). Listed by reading, for each HARRISON tag, the
#: ImageNet classes that name it.
NOT_VISIBLE = frozenset(
    {
        "good",
        "business",
        "life",
        "game",
        "nutrition",
        "class",
        "place",
        "bar",
        "top",
        "model",
        "work",
        "piece",
        "kite",
        "jacket",
        "spring",
        "depression",
        "soul",
        "paint",
        "design",
        "outfit",
        "accessory",
        "pool",
    }
)
#: Weight of each further matching word of a class (its ancestors), after the nearest one's 1.
DECAY = 0.7


def word_forms(word: str) -> tuple[str, ...]:
    """A word and the singulars it may be a plural of ('horses' -> horse, 'boxes' -> box, 'puppies' ->
    puppy), so that plural hashtags and singular WordNet lemmas meet."""
    forms = [word]
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    if word.endswith("es") and len(word) > 4:
        forms.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        forms.append(word[:-1])
    return tuple(forms)


def class_map(vocabulary: list[str], conse: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(classes, V) float32: how strongly each ImageNet class names each tag (see the module docstring)."""
    conse = conse if conse is not None else load_npz("conse_embeddings.npz")
    n_classes = len(conse["class_names"])
    index: dict[str, int] = {}
    for i, tag in enumerate(vocabulary):
        index.setdefault(tag.lower(), i)
    for i, tag in enumerate(vocabulary):  # 't-shirt' and 'ice cream' meet WordNet's 'tshirt', 'icecream'
        index.setdefault(tag_key(tag), i)
    for i, tag in enumerate(vocabulary):
        for form in word_forms(tag.lower())[1:]:
            index.setdefault(form, i)
    nearest = np.full((n_classes, len(vocabulary)), 127, dtype=np.int16)
    words = zip(
        conse["class_word_class"].tolist(),
        conse["class_word"].tolist(),
        conse["class_word_depth"].tolist(),
        strict=True,
    )
    for c, word, depth in words:
        for form in word_forms(word):
            col = index.get(form)
            if col is not None and form not in NOT_VISIBLE:
                nearest[c, col] = min(nearest[c, col], depth)
    m = np.zeros(nearest.shape, dtype=np.float32)
    for c in range(n_classes):
        cols = np.flatnonzero(nearest[c] < 127)
        order = cols[np.argsort(nearest[c, cols], kind="stable")]
        m[c, order] = DECAY ** np.arange(len(order), dtype=np.float32)
    return m


def hubness(label_embeddings: np.ndarray, class_embeddings: np.ndarray, k: int = 10) -> np.ndarray:
    """(V,) each label's mean cosine to its k nearest classes: CSLS's measure of how close it sits to
    everything, subtracted (in part) from its ConSE similarity."""
    sims = unit_rows(label_embeddings) @ unit_rows(class_embeddings).T
    k = min(k, sims.shape[1])
    return np.sort(sims, axis=1)[:, -k:].mean(axis=1).astype(np.float32)
