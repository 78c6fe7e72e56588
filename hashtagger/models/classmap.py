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
#: Ancestor words a class's photos do not show: ImageNet's library, restaurant, cinema, home theater,
#: planetarium and greenhouse are photographed from inside (shelves of books, a laid table, a screen), so
#: WordNet's "building" above them put #building on close-ups of books (20 of MSRC-v2's 35 book photos).
NOT_SHOWN: dict[str, frozenset[str]] = {
    name: frozenset({"building"})
    for name in ("library", "restaurant", "cinema", "home theater", "planetarium", "greenhouse")
}
#: Weight of each further matching word of a class (its ancestors), after the nearest one's 1.
DECAY = 0.7
#: Where a class is: ImageNet's landscape classes and the things that are only ever seen in one place name
#: that place too, after their own words (WordNet files a seashore under 'geological formation', so the
#: classifier's seashore never reached #beach or #sea). Ranked as a class's first ancestor is, at
#: PLACE_WEIGHT times its weight: the thing seen comes before where it is (MSRC-v2: 1.0 gave mAP 76.9,
#: P@1 87.6 and an object named first on 77.5% of its photos; 0.5 gives 77.2, 88.2 and 78.5%).
PLACE_WEIGHT = 0.5
PLACE_WORDS: dict[str, tuple[str, ...]] = {
    "seashore": ("beach", "sea", "coast"),
    "sandbar": ("beach", "sand", "sea"),
    "promontory": ("sea", "coast", "cliff"),
    "coral reef": ("sea", "ocean", "underwater"),
    "lakeside": ("lake", "water"),
    "boathouse": ("lake", "water"),
    "breakwater": ("sea", "harbor"),
    "dock": ("harbor", "sea", "water"),
    "alp": ("snow", "mountain"),
    "valley": ("nature", "mountain"),
    "volcano": ("mountain",),
    "cliff": ("nature", "mountain"),
    "geyser": ("nature", "water"),
    "fountain": ("water",),
    "dam": ("water", "lake"),
    "ski": ("snow", "winter", "skiing"),
    "snowmobile": ("snow", "winter"),
    "dogsled": ("snow", "winter"),
    "snowplow": ("snow", "winter"),
    "bobsled": ("snow", "winter"),
    "swimming trunks": ("beach", "summer", "swimming"),
    "bikini": ("beach", "summer", "swimming"),
    "maillot": ("beach", "summer", "swimming"),
    "sunscreen": ("summer", "beach"),
    "scuba diver": ("sea", "underwater", "diving"),
    "snorkel": ("sea", "underwater"),
    "paddle": ("water", "lake"),
    "canoe": ("water", "lake"),
    "speedboat": ("water", "sea"),
    "liner": ("sea", "ocean"),
    "container ship": ("sea", "ocean"),
    "wreck": ("sea",),
    "parachute": ("sky",),
    "airliner": ("sky",),
    "airship": ("sky",),
    "balloon": ("sky",),
    "space shuttle": ("space", "sky"),
}


#: Families of ImageNet classes whose probability the steps after the graph read, each by the WordNet words
#: that make a class one of them: garments (50 classes: jersey, cardigan, jean, ...; people.py) and the
#: three animals ImageNet knows best (dog: 121 classes, cat: 13 with the big cats, bird: 59; objects.py).
CLASS_FAMILIES: dict[str, frozenset[str]] = {
    "garment": frozenset({"clothing", "garment"}),
    "dog": frozenset({"dog"}),
    "cat": frozenset({"cat"}),
    "bird": frozenset({"bird"}),
}


def family_classes(conse: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(classes, families) float32: 1 where an ImageNet class belongs to a family (CLASS_FAMILIES order)."""
    conse = conse if conse is not None else load_npz("conse_embeddings.npz")
    mask = np.zeros((len(conse["class_names"]), len(CLASS_FAMILIES)), dtype=np.float32)
    for c, word in zip(conse["class_word_class"].tolist(), conse["class_word"].tolist(), strict=True):
        for f, words in enumerate(CLASS_FAMILIES.values()):
            if word in words:
                mask[c, f] = 1.0
    return mask


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
    names = [str(n) for n in conse["class_names"].tolist()]
    for c, word, depth in words:
        hidden = NOT_SHOWN.get(names[c], frozenset())
        for form in word_forms(word):
            col = index.get(form)
            if col is not None and form not in NOT_VISIBLE and form not in hidden:
                nearest[c, col] = min(nearest[c, col], depth)
    place = np.zeros(nearest.shape, dtype=bool)
    for c, name in enumerate(names):
        for word in PLACE_WORDS.get(name, ()):
            col = index.get(word)
            if col is not None and nearest[c, col] == 127:
                nearest[c, col], place[c, col] = 1, True
    m = np.zeros(nearest.shape, dtype=np.float32)
    for c in range(n_classes):
        cols = np.flatnonzero(nearest[c] < 127)
        order = cols[np.argsort(nearest[c, cols], kind="stable")]
        m[c, order] = DECAY ** np.arange(len(order), dtype=np.float32)
    return np.where(place, PLACE_WEIGHT * m, m)


def hubness(label_embeddings: np.ndarray, class_embeddings: np.ndarray, k: int = 10) -> np.ndarray:
    """(V,) each label's mean cosine to its k nearest classes: CSLS's measure of how close it sits to
    everything, subtracted (in part) from its ConSE similarity."""
    sims = unit_rows(label_embeddings) @ unit_rows(class_embeddings).T
    k = min(k, sims.shape[1])
    return np.sort(sims, axis=1)[:, -k:].mean(axis=1).astype(np.float32)
