"""People in the photo -> the hashtags that say so (#people, #portrait, #face, #person, #selfie).

ImageNet has no person class, so the zero-shot model cannot name the people in a photo. MediaPipe's BlazeFace
full-range detector (Apache-2.0, resources/people_face.onnx, converted by scripts/build_people_model.py) can
see a face: it runs on ONNX Runtime, on the same centre crop the model sees, scaled to 192 px, about 3 ms a
photo on 2 cores. Its best anchor's logit becomes p_face, and p_face moves that share of what the photo
shows (q) onto the people tags of the vocabulary, the same way for PyTorch and for an export.

Measured on MSRC-v2 (591 photos, 60 with a labelled face; AUC 0.98), best logit >= 0.6 (the midpoint):
precision 0.92, recall 0.77; >= 0.405 (mediapipe's own 0.6 score): 0.89 / 0.80; >= 0.85: 0.96 / 0.75.
Of the 68 photos with a face or body, recall 0.68 at 0.6: people seen from behind or far away are missed.
A face counts only where the object detector (objects.py), when it runs, also sees a person at
PERSON_CONFIRMS or more, and is only looked for there (36% of MSRC-v2's photos, a third of the demo ones):
on MSRC-v2 every true face scored 0.53 or more as a person (5th percentile), and faces or persons then find
the same 0.956 of the 68 photos at precision 0.970 instead of 0.942 (two false faces go, as does the face
BlazeFace saw in the Hubble deep field). With no object step (a vocabulary without COCO things) faces
count alone.
(The short-range model found 0.62 of the faces at precision 0.90; BlazePose's person detector would add
people without a visible face, at 9 ms a photo: measured, not shipped.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hashtagger.models.detections import checked_settings, detector_session, gated_sigmoid

RESOURCE = "people_face.onnx"
#: Below this face logit nothing moves (MSRC-v2: precision 0.72 at 0; photos without people score about 0 or
#: below, a cat's face -2.8).
FACE_LOGIT_MIN = 0.2
FACE_INPUT = 192
#: A face counts only where the object detector's person score is at least this (see above).
PERSON_CONFIRMS = 0.15
#: The tags a face supports and how much (a distribution over those the vocabulary holds).
PEOPLE_TAGS = {"people": 1.0, "portrait": 0.5, "person": 0.15, "face": 0.15, "selfie": 0.15}
#: COCO has no clothes, so the object detector calls a shirt on a bed a person: on clothing-small's product
#: photos (no one in them) its person score has median 0.37, and #people was in the top 5 of 52%. Where the
#: ImageNet classifier puts GARMENT_FROM or more of its probability on garments (its 50 classes under
#: WordNet's clothing: jersey, cardigan, jean, ...) and no face is seen, the person counts less, and not at
#: all from GARMENT_FULL: #people 52% -> 8% there, while MSRC-v2's 68 photos with people keep it on all 68
#: (those with much garment show a face) and its mAP and the demo lists are unchanged.
GARMENT_FROM, GARMENT_FULL = 0.2, 0.4


def person_weight(garment: np.ndarray | None, p_face: np.ndarray) -> np.ndarray | None:
    """(N,) how much the object detector's person counts: 1 where a face is seen or the classifier sees
    no garment, falling to 0 as its garment share (the graph's `families`) rises from GARMENT_FROM to
    GARMENT_FULL; None (all 1) without that share (an export made before the graph gave it)."""
    if garment is None:
        return None
    unexplained = np.clip((GARMENT_FULL - garment) / (GARMENT_FULL - GARMENT_FROM), 0.0, 1.0)
    return np.where(p_face > 0, 1.0, unexplained).astype(np.float32)


def face_input(batch: np.ndarray) -> np.ndarray:
    """uint8 NCHW photos -> the detector's float32 NCHW input: FACE_INPUT square, scaled to [-1, 1]."""
    from hashtagger.image.square import square_rgb

    out = square_rgb(batch, FACE_INPUT).transpose(0, 3, 1, 2).astype(np.float32)
    return out / 127.5 - 1.0


class FaceDetector:
    """BlazeFace on ONNX Runtime: the best anchor's face logit for each photo of a batch."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.session = detector_session(RESOURCE, path)

    def face_logits(self, batch: np.ndarray) -> np.ndarray:
        """(N,) the highest face score (a logit) over BlazeFace's 2304 anchors, per photo."""
        if len(batch) == 0:
            return np.zeros(0, dtype=np.float32)
        scores = self.session.run(["scores"], {"image": face_input(batch)})[0]
        return scores.reshape(len(batch), -1).max(axis=1).astype(np.float32)


@dataclass
class PeopleTags:
    """How a seen face becomes content: p_face = sigmoid(slope * (logit - logit50)); that share of q, times
    `share`, goes to the vocabulary's people tags (weights: PEOPLE_TAGS)."""

    vocabulary: list[str] = field(repr=False)
    share: float = 0.4
    logit50: float = 0.6  # MSRC-v2: precision 0.92, recall 0.77 at this logit
    slope: float = 3.0
    weights: np.ndarray = field(init=False, repr=False)
    detector: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        w = np.array([PEOPLE_TAGS.get(t.lower(), 0.0) for t in self.vocabulary], dtype=np.float32)
        self.weights = w / w.sum() if w.sum() > 0 else w

    @property
    def active(self) -> bool:
        """Whether the vocabulary holds any people tag at all."""
        return bool(self.weights.any())

    def p_face(self, logits: np.ndarray) -> np.ndarray:
        return gated_sigmoid(logits, self.logit50, self.slope, FACE_LOGIT_MIN)

    def faces(self, batch: np.ndarray, person: np.ndarray | None = None) -> np.ndarray:
        """(N,) p_face of each photo in `batch` (0 where none is seen). `person` (N,), the object detector's
        person scores where it ran: faces are looked for only on the photos with a person score of
        PERSON_CONFIRMS or more (the rest would move nothing)."""
        p = np.zeros(len(batch), dtype=np.float32)
        if not self.active:
            return p
        if self.detector is None:
            self.detector = FaceDetector()
        look = np.arange(len(batch))
        if person is not None:
            look = np.flatnonzero(np.asarray(person) >= PERSON_CONFIRMS)
        if len(look):
            p[look] = self.p_face(self.detector.face_logits(batch[look]))
        return p

    def move(self, q: np.ndarray, p_face: np.ndarray) -> np.ndarray:
        """q (N, V), a distribution over the tags -> the same with the faces seen moved in."""
        moved = (self.share * p_face)[:, None]
        return ((1.0 - moved) * q + moved * self.weights[None, :]).astype(np.float32)

    def to_dict(self) -> dict[str, float]:
        """What an export stores to apply it the same way (`from_dict`)."""
        return {"share": self.share, "logit50": self.logit50, "slope": self.slope}

    @classmethod
    def from_dict(cls, d: Any, vocabulary: list[str]) -> PeopleTags:
        return cls(vocabulary, *checked_settings(d, "people", "logit50"))
