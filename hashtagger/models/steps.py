"""The steps after the graph, in their one order, for PyTorch (zeroshot.py) and an export (exported.py)
alike: the colours measured from the pixels (colours.py), the things the object detector sees (objects.py),
then the faces (people.py). Besides q they read the classifier's class-family shares (the graph's
`families`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hashtagger.models.colours import ColourTags
from hashtagger.models.objects import COCO_CLASSES, PERSON, ObjectTags, animal_weights
from hashtagger.models.people import PeopleTags, person_weight


def apply_seen(
    q: np.ndarray,
    batch: np.ndarray,
    *,
    families: dict[str, np.ndarray] | None = None,
    colours: ColourTags | None = None,
    objects: ObjectTags | None = None,
    people: PeopleTags | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """q (N, V), what the photo shows over the tags -> the same with the colours measured, then the things
    seen moved in, then the people: the one order of the steps, for PyTorch (zeroshot.py) and an export
    (exported.py) alike; and the (N, V) tags measured absent (the colours a photo lacks; None without a
    colours step), which the ranking keeps out. A step that is None, or whose tags the vocabulary lacks,
    changes nothing. The object detector's person score, where it ran, confirms the faces
    (people.PERSON_CONFIRMS); `families`, the classifier's (N,) probability on each class family
    (classmap.CLASS_FAMILIES), explains away what the detector mistakes: a garment for a person where no
    face is seen (people.person_weight), one animal for another (objects.animal_weights)."""
    absent = None
    if colours is not None:
        p = colours.measure(batch)
        q, absent = colours.move(q, p), colours.absent(p)
    scores = objects.scores(batch) if objects is not None else None
    p_face = np.zeros(len(batch), dtype=np.float32)
    if people is not None:
        p_face = people.faces(batch, person=None if scores is None else objects.person(scores))
    if scores is not None:
        q = objects.move(q, scores, _explained(families, p_face))
    if people is not None:
        q = people.move(q, p_face)
    return q, absent


def _explained(families: dict[str, np.ndarray] | None, p_face: np.ndarray) -> np.ndarray | None:
    """(N, 80) how much each detected class counts, given what the classifier sees; None: all of it."""
    animals = animal_weights(families, len(p_face))
    person = person_weight(None if families is None else families.get("garment"), p_face)
    if animals is None and person is None:
        return None
    w = animals if animals is not None else np.ones((len(p_face), len(COCO_CLASSES)), dtype=np.float32)
    if person is not None:
        w[:, PERSON] *= person
    return w


def seen_steps() -> dict[str, Any]:
    """The steps after the graph, by the key an export stores each one's settings under: each class has
    `from_dict(settings, vocabulary)` and `to_dict()`, and apply_seen takes them by these names."""
    return {"colours": ColourTags, "objects": ObjectTags, "people": PeopleTags}
