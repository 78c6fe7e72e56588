"""Objects: a COCO thing the detector sees (a horse, a giraffe, a kite) becomes its hashtag in what the photo
shows, the same way on PyTorch and in an export; a photo where nothing is seen is left as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hashtagger.errors import CheckpointError
from hashtagger.models.objects import COCO_CLASSES, ObjectDetector, ObjectTags
from hashtagger.models.steps import apply_seen

onnx = pytest.importorskip("onnx", reason="the stand-in detector is built with onnx")
pytest.importorskip("onnxruntime", reason="the object detector runs on ONNX Runtime")

HORSE = COCO_CLASSES.index("horse")


def stand_in_detector(path: Path, scores: np.ndarray) -> Path:
    """A tiny ONNX graph with the detector's ports, image (N, 3, H, W) -> scores (N, 80): `scores` for
    every photo (the photo only sets the batch size)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Flatten", ["m"], ["flat"], axis=1),
        helper.make_node("Mul", ["flat", "zeros"], ["z"]),
        helper.make_node("Add", ["z", "fixed"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes,
        "stand-in",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 80])],
        [
            numpy_helper.from_array(np.zeros((1, 80), np.float32), "zeros"),
            numpy_helper.from_array(scores.reshape(1, 80).astype(np.float32), "fixed"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_detected_horse_moves_q_onto_horse(tmp_path: Path) -> None:
    scores = np.zeros(80, np.float32)
    scores[HORSE] = 0.5  # the midpoint: p = 0.5
    tags = ObjectTags(["cow", "horse", "cat"], share=0.4, score50=0.5, slope=12.0)
    tags.detector = ObjectDetector(stand_in_detector(tmp_path / "d.onnx", scores), size=32)
    q = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    out, absent = apply_seen(q, np.zeros((2, 3, 16, 16), np.uint8), objects=tags, people=None)
    assert absent is None  # no colours step
    np.testing.assert_allclose(out, [[0.8, 0.2, 0.0], [0.0, 0.2, 0.8]], atol=1e-6)  # moved = 0.4 * 0.5


def test_weak_scores_and_tagless_classes_move_nothing() -> None:
    tags = ObjectTags(["hydrant", "people", "horse", "cattle", "cow"])
    scores = np.zeros((3, 80), np.float32)
    scores[0, HORSE] = 0.25  # below SCORE_MIN
    scores[1, COCO_CLASSES.index("fire hydrant")] = 0.99  # a class without tags
    scores[2, COCO_CLASSES.index("cow")] = 0.9
    q = np.full((3, 5), 0.2, dtype=np.float32)
    out = tags.move(q, scores)
    np.testing.assert_allclose(out[:2], q[:2], atol=1e-7)
    assert out[2, 4] > out[2, 3] > 0.2 > out[2, 0]  # #cow first, then #cattle; the rest gave their share
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)


def test_coco_class_names_are_found_in_any_spelling_where_no_hashtag_is() -> None:
    """A vocabulary of COCO's own names ('person', 'traffic light', 'hot-dog', 'Dining_Table') is reached by
    the detector; the default vocabulary gets the hashtags (a person -> #people, not #person)."""
    vocab = ["person", "traffic light", "hot-dog", "Dining_Table", "cat"]
    w = ObjectTags(vocab).weights
    for cls, col in [("person", 0), ("traffic light", 1), ("hot dog", 2), ("dining table", 3), ("cat", 4)]:
        assert w[COCO_CLASSES.index(cls), col] == 1.0, cls
    default = ObjectTags(["people", "person", "table", "diningtable"]).weights
    assert default[COCO_CLASSES.index("person")].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert default[COCO_CLASSES.index("dining table")].tolist() == [0.0, 0.0, 1.0, 0.0]


def test_a_vocabulary_without_object_tags_is_left_alone() -> None:
    assert not ObjectTags(["love", "sunset", "portrait"]).active
    assert ObjectTags(["love", "people"]).active  # a person seen says #people
    assert ObjectTags(["love", "person"]).active  # ... or 'person' where the vocabulary has no #people
    assert ObjectTags(["love", "giraffe"]).active


@pytest.mark.parametrize(
    "bad",
    [
        {"share": 2, "score50": 0.5, "slope": 12},
        {"share": 0.4, "score50": float("nan"), "slope": 12},
        {"share": 0.4, "score50": 0.5, "slope": "steep"},
        {"share": True, "score50": 0.5, "slope": 12},
        {"share": 0.4},
        [],
    ],
)
def test_object_settings_in_an_export_are_checked(bad: object) -> None:
    with pytest.raises(CheckpointError) as e:
        ObjectTags.from_dict(bad, ["horse"])
    assert "\n" not in str(e.value) and str(e.value).startswith("objects")


def test_settings_round_trip() -> None:
    tags = ObjectTags(["horse"], share=0.3, score50=0.45, slope=10.0)
    again = ObjectTags.from_dict(tags.to_dict(), ["horse"])
    assert again.to_dict() == tags.to_dict() == {"share": 0.3, "score50": 0.45, "slope": 10.0}


def test_an_export_carries_the_objects_step(tmp_path: Path) -> None:
    """The export's metadata holds the settings; the exported model applies them; bad ones are one line."""
    from test_export_crafted import crafted

    from hashtagger.models.exported import encode_array, load_exported

    emb = encode_array(np.ones((3, 4), dtype=np.float32))
    settings = {"share": 0.3, "score50": 0.45, "slope": 10.0}
    common = dict(
        tags=3, outputs=("scores", "content"), ranking={"prior_weight": 0.0}, label_embeddings=emb,
        vocabulary=["cow", "horse", "sky"],
    )  # fmt: skip
    tagger = load_exported(crafted(tmp_path / "zs.onnx", objects=settings, **common))
    assert tagger.steps["objects"] is not None and tagger.steps["objects"].to_dict() == settings
    with pytest.raises(
        CheckpointError, match=r"bad\.onnx: export metadata objects: share must be from 0 to 1"
    ):
        load_exported(crafted(tmp_path / "bad.onnx", objects={**settings, "share": 7}, **common))


def test_the_default_model_carries_the_objects_step() -> None:
    """The shipped graph (scripts/build_builtin_models.py) applies the objects step as PyTorch does."""
    from hashtagger.models import load_tagger

    tagger = load_tagger("zeroshot")
    objects = tagger.steps["objects"]
    assert objects is not None and objects.to_dict() == ObjectTags(["horse"]).to_dict()
    assert tagger.families == ["garment", "dog", "cat", "bird"]  # what the classifier sees, for the steps


def test_the_default_vocabulary_names_what_the_detector_sees() -> None:
    """Every COCO thing the detector sees reaches a hashtag in the default vocabulary (a tennis racket says
    #tennis, a bat or glove #baseball), except the classes left silent on purpose: on road signs and
    clothes their scores were nearly always wrong (scripts/build_zeroshot_resources.py, EVERYDAY)."""
    from hashtagger.models import load_tagger

    vocab = load_tagger("zeroshot").vocabulary
    w = ObjectTags(vocab).weights
    silent = {cls for c, cls in enumerate(COCO_CLASSES) if not w[c].any()}
    assert silent == {
        "traffic light", "fire hydrant", "stop sign", "parking meter", "remote", "toaster", "hair drier",
        "toothbrush",
    }  # fmt: skip
    named = [("tennis racket", "tennis"), ("baseball glove", "baseball"), ("skateboard", "skateboard")]
    for cls, tag in named:
        assert vocab[int(w[COCO_CLASSES.index(cls)].argmax())] == tag, cls


def test_an_animal_another_family_explains_counts_less_by_hand() -> None:
    """The detector's dog on a photo the classifier is sure shows a cat counts not at all; where the
    classifier gives dogs a share too, or is unsure, it counts; a cat on that photo counts whole."""
    from hashtagger.models.objects import ANIMALS, FAMILY_FROM, FAMILY_FULL, animal_weights

    mid = (FAMILY_FROM + FAMILY_FULL) / 2
    families = {
        "cat": np.array([0.95, mid, 0.3, 0.9], np.float32),
        "dog": np.array([0.0, 0.0, 0.0, 0.2], np.float32),
        "bird": np.zeros(4, np.float32),
    }
    w = animal_weights(families, 4)
    dog, cat, giraffe = (COCO_CLASSES.index(c) for c in ("dog", "cat", "giraffe"))
    np.testing.assert_allclose(w[:, dog], [0.0, 0.5, 1.0, 1.0], atol=1e-6)  # sure cat; half; unsure; dog seen
    np.testing.assert_allclose(w[:, cat], 1.0)
    np.testing.assert_allclose(w[:, giraffe], [0.0, 0.5, 1.0, 0.0], atol=1e-6)  # no ImageNet family
    others = [i for i, c in enumerate(COCO_CLASSES) if c not in ANIMALS]
    assert w[:, HORSE].min() == 0.0 and (w[:, others] == 1.0).all()  # things and people: not animals
    assert animal_weights(None, 4) is None and animal_weights({"garment": np.zeros(4)}, 4) is None
