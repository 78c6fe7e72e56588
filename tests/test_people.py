"""People: a face the detector sees becomes #people (and #portrait ...) in what the photo shows, the same way
on PyTorch and in an export; a photo without a face is left as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashtagger.errors import CheckpointError
from hashtagger.models.people import FaceDetector, PeopleTags

pytest.importorskip("onnxruntime", reason="the face detector runs on ONNX Runtime")


def _skimage(name: str) -> np.ndarray:
    data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photos")
    return getattr(data, name)()


def _batch(*images: np.ndarray, size: int = 260) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(a).convert("RGB").resize((size, size))).transpose(2, 0, 1)
                     for a in images])  # fmt: skip


def test_a_face_is_seen_and_a_cat_is_not() -> None:
    logits = FaceDetector().face_logits(_batch(_skimage("astronaut"), _skimage("chelsea")))
    p = PeopleTags(["people"]).p_face(logits)
    assert logits.shape == (2,) and p[0] > 0.8 and p[1] < 0.2


def test_people_move_a_share_of_q_onto_the_people_tags_by_hand() -> None:
    tags = PeopleTags(["cat", "people", "portrait"], share=0.4, logit50=1.0, slope=3.0)
    np.testing.assert_allclose(tags.weights, [0.0, 1 / 1.5, 0.5 / 1.5], rtol=1e-6)
    assert tags.p_face(np.array([1.0]))[0] == pytest.approx(0.5)

    class Fixed:
        def face_logits(self, batch: np.ndarray) -> np.ndarray:
            return np.array([1.0, -50.0], dtype=np.float32)

    tags.detector = Fixed()
    q = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype=np.float32)
    out = tags.move(q, tags.faces(np.zeros((2, 3, 8, 8), np.uint8)))
    np.testing.assert_allclose(out[0], [0.8, 0.2 / 1.5, 0.1 / 1.5], rtol=1e-5)  # moved = 0.4 * 0.5
    np.testing.assert_allclose(out[1], q[1], atol=1e-6)  # no face: as it was
    assert tags.p_face(np.array([-0.6]))[0] == 0.0  # a cat's face: nothing moves
    assert not PeopleTags(["cat", "dog"]).active  # a vocabulary without people tags is left alone


def test_a_face_counts_only_where_the_object_detector_sees_a_person() -> None:
    from hashtagger.models.objects import COCO_CLASSES, ObjectTags
    from hashtagger.models.people import PERSON_CONFIRMS
    from hashtagger.models.steps import apply_seen

    class Faces:
        sizes: list[int] = []

        def face_logits(self, batch: np.ndarray) -> np.ndarray:
            self.sizes.append(len(batch))
            return np.full(len(batch), 50.0, dtype=np.float32)  # a sure face on every photo

    class Things:
        def class_scores(self, batch: np.ndarray) -> np.ndarray:
            s = np.zeros((len(batch), len(COCO_CLASSES)), dtype=np.float32)
            s[:, 0] = [0.0, PERSON_CONFIRMS, 0.1]  # no person, just enough, a glimpse (moves nothing itself)
            return s

    vocab = ["galaxy", "people"]
    people = PeopleTags(vocab, share=0.4)
    people.detector = Faces()
    objects = ObjectTags(vocab)
    objects.detector = Things()
    q = np.array([[1.0, 0.0]] * 3, dtype=np.float32)
    out, _ = apply_seen(q, np.zeros((3, 3, 8, 8), np.uint8), objects=objects, people=people)
    np.testing.assert_allclose(out[:, 1], [0.0, 0.4, 0.0], atol=1e-6)  # only the confirmed face moves
    assert people.detector.sizes == [1]  # and faces were looked for on that photo alone
    objects.detector.class_scores = lambda batch: np.zeros((len(batch), len(COCO_CLASSES)), np.float32)
    unseen, _ = apply_seen(q, np.zeros((3, 3, 8, 8), np.uint8), objects=objects, people=people)
    assert np.array_equal(unseen, q)
    assert people.detector.sizes == [1]  # no person anywhere: the face detector does not run
    # without an object step (a vocabulary naming no COCO thing) a face counts alone
    alone, _ = apply_seen(q, np.zeros((3, 3, 8, 8), np.uint8), objects=None, people=people)
    np.testing.assert_allclose(alone[:, 1], [0.4, 0.4, 0.4], atol=1e-6)
    assert people.detector.sizes == [1, 3]


@pytest.mark.parametrize(
    "bad",
    [
        {"share": 2, "logit50": 1, "slope": 3},
        {"share": 0.4, "logit50": float("nan"), "slope": 3},
        {"share": 0.4},
        {"share": True, "logit50": 0.6, "slope": 3},
        [],
    ],
)
def test_people_settings_in_an_export_are_checked(bad: object) -> None:
    with pytest.raises(CheckpointError) as e:
        PeopleTags.from_dict(bad, ["people"])
    assert "\n" not in str(e.value) and str(e.value).startswith("people")


def test_the_default_model_names_the_people_in_a_photo(tmp_path: Path) -> None:
    """End to end on the core runtime (the shipped graph, no PyTorch): #people first for a portrait."""
    photo = tmp_path / "astronaut.png"
    Image.fromarray(_skimage("astronaut")).save(photo)
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from click.testing import CliRunner\nfrom hashtagger.cli import cli\n"
        f"print(CliRunner().invoke(cli, ['predict', {str(photo)!r}, '-k', '3', '-q']).output)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert out.split()[:2] == ["#people", "#portrait"], out


def test_a_person_on_a_garment_without_a_face_is_no_person_by_hand() -> None:
    """The object detector calls a shirt on a bed a person; where the classifier sees a garment and no face
    is seen, the person counts less (none from GARMENT_FULL); a face keeps it whole."""
    from hashtagger.models.people import GARMENT_FROM, GARMENT_FULL, person_weight

    mid = (GARMENT_FROM + GARMENT_FULL) / 2
    garment = np.array([0.0, mid, GARMENT_FULL, 0.9], dtype=np.float32)
    np.testing.assert_allclose(person_weight(garment, np.zeros(4)), [1.0, 0.5, 0.0, 0.0], atol=1e-6)
    face = np.array([0, 0, 0, 0.7])
    np.testing.assert_allclose(person_weight(garment, face), [1.0, 0.5, 0.0, 1.0], atol=1e-6)
    assert person_weight(None, np.zeros(4)) is None  # an export made before the garment output


def test_the_steps_drop_a_person_explained_by_a_garment() -> None:
    from hashtagger.models.objects import PERSON, ObjectTags
    from hashtagger.models.steps import apply_seen

    class Things:
        def class_scores(self, batch: np.ndarray) -> np.ndarray:
            s = np.zeros((len(batch), 80), dtype=np.float32)
            s[:, PERSON] = 0.9  # a sure person on every photo
            return s

    objects = ObjectTags(["shirt", "people"])
    objects.detector = Things()
    q = np.array([[1.0, 0.0]] * 3, dtype=np.float32)
    batch = np.zeros((3, 3, 8, 8), np.uint8)
    families = {"garment": np.array([0.0, 0.9, 0.9], np.float32)}
    out, _ = apply_seen(q, batch, families=families, objects=objects, people=None)
    assert out[0, 1] > 0.3 and out[1, 1] == 0.0  # a person; a shirt the classifier sees, no face: none
    out, _ = apply_seen(q, batch, objects=objects, people=None)
    assert (out[:, 1] > 0.3).all()  # without the classifier's shares (an older export), as before
