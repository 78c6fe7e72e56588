"""Hand-computed checks of hashtagger.metrics; the arithmetic is in the comments."""

from __future__ import annotations

import numpy as np
import pytest

from hashtagger.metrics import (
    average_precision,
    fit_thresholds,
    head_tail_map,
    mean_average_precision,
    popularity_scores,
    ranking_metrics,
    threshold_metrics,
    top_k_indices,
)

T, F = True, False

# 3 images x 5 tags.
SCORES = np.array(
    [
        [0.9, 0.8, 0.1, 0.3, 0.2],  # ranking 0,1,3,4,2
        [0.1, 0.2, 0.9, 0.4, 0.5],  # ranking 2,4,3,1,0
        [0.5, 0.6, 0.7, 0.8, 0.9],  # ranking 4,3,2,1,0
    ]
)
TARGETS = np.array(
    [
        [T, F, F, T, F],  # truth {0, 3}
        [F, T, F, F, F],  # truth {1}
        [T, F, T, F, T],  # truth {0, 2, 4}
    ]
)


def test_ranking_metrics_by_hand() -> None:
    m = ranking_metrics(SCORES, TARGETS, ks=(1, 3))
    assert list(m) == [
        "precision@1", "recall@1", "accuracy@1", "f1@1",
        "precision@3", "recall@3", "accuracy@3", "f1@3",
        "map",
    ]  # fmt: skip
    # K=1: tops {0}, {2}, {4} -> hits 1, 0, 1.
    assert m["precision@1"] == pytest.approx(2 / 3)  # (1 + 0 + 1) / 3
    assert m["recall@1"] == pytest.approx(5 / 18)  # (1/2 + 0 + 1/3) / 3
    assert m["accuracy@1"] == pytest.approx(2 / 3)
    # F1 of the averages: 2 * 2/3 * 5/18 / (2/3 + 5/18) = (10/27) / (17/18) = 20/51
    assert m["f1@1"] == pytest.approx(20 / 51)
    # K=3: tops {0,1,3}, {2,4,3}, {4,3,2} -> hits 2, 0, 2.
    assert m["precision@3"] == pytest.approx(4 / 9)  # (2/3 + 0 + 2/3) / 3
    assert m["recall@3"] == pytest.approx(5 / 9)  # (2/2 + 0 + 2/3) / 3
    assert m["accuracy@3"] == pytest.approx(2 / 3)
    assert m["f1@3"] == pytest.approx(40 / 81)  # 2 * 4/9 * 5/9 / (4/9 + 5/9)
    # AP per tag (rank images by the tag's column):
    # tag0 [.9 .1 .5] pos img0,img2 at ranks 1,2 -> 1;  tag1 [.8 .2 .6] pos img1 at rank 3 -> 1/3
    # tag2 [.1 .9 .7] pos img2 at rank 2 -> 1/2;        tag3 [.3 .4 .8] pos img0 at rank 3 -> 1/3
    # tag4 [.2 .5 .9] pos img2 at rank 1 -> 1.          mAP = (1 + 1/3 + 1/2 + 1/3 + 1) / 5 = 19/30
    assert m["map"] == pytest.approx(19 / 30)


def test_default_ks_keys() -> None:
    keys = list(ranking_metrics(SCORES, TARGETS))
    assert keys == [f"{m}@{k}" for k in (1, 5, 10) for m in ("precision", "recall", "accuracy", "f1")] + [
        "map"
    ]


def test_top_k_ties_go_to_lower_index() -> None:
    # Full-sort path (4k >= V): 0.7 at tags 1 and 3, then 0.5 at tags 0 and 2.
    assert top_k_indices(np.array([[0.5, 0.7, 0.5, 0.7, 0.1]]), 3).tolist() == [[1, 3, 0]]
    # Partition path (4k < V): 1.0 at tag 5, then a three-way tie of 0.5 at tags 2, 8, 11.
    s = np.zeros(12)
    s[5], s[2], s[8], s[11] = 1.0, 0.5, 0.5, 0.5
    assert top_k_indices(s, 2).tolist() == [5, 2]
    assert top_k_indices(s[None], 1).tolist() == [[5]]
    # All-equal scores: the tie rule alone decides; truth at tag 0 is a hit, at tag 4 a miss.
    flat = np.full((2, 5), 0.3)
    targets = np.array([[T, F, F, F, F], [F, F, F, F, T]])
    assert ranking_metrics(flat, targets, ks=(1,))["accuracy@1"] == pytest.approx(1 / 2)


def test_top_k_matches_a_stable_sort_with_many_ties() -> None:
    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, size=(40, 30)).astype(np.float32)
    for k in (1, 3, 7, 30, 31):
        want = np.argsort(-s, axis=1, kind="stable")[:, :k]
        assert np.array_equal(top_k_indices(s, k), want)


def test_image_with_every_tag_outside_the_vocabulary() -> None:
    scores = np.array([[0.9, 0.1, 0.2], [0.3, 0.2, 0.1]])
    targets = np.array([[T, F, F], [F, F, F]])  # image 1 has no in-vocabulary tag
    n_true = np.array([2, 2])  # image 0 also has one tag outside the vocabulary
    m = ranking_metrics(scores, targets, n_true=n_true, ks=(1,))
    assert m["precision@1"] == pytest.approx(1 / 2)  # (1/1 + 0) / 2: image 1 still counts in N
    assert m["recall@1"] == pytest.approx(1 / 4)  # (1/2 + 0/2) / 2
    assert m["accuracy@1"] == pytest.approx(1 / 2)
    # Without n_true the truth count is targets.sum(1) = [1, 0]: (1/1 + 0) / 2; empty truth gives 0.
    assert ranking_metrics(scores, targets, ks=(1,))["recall@1"] == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="n_true"):
        ranking_metrics(scores, targets, n_true=np.array([0, 0]))


def test_k_larger_than_vocabulary() -> None:
    scores = np.array([[0.9, 0.1, 0.2], [0.3, 0.2, 0.1]])
    targets = np.array([[T, F, F], [F, F, F]])
    assert top_k_indices(scores, 5).tolist() == [[0, 2, 1], [0, 1, 2]]
    m = ranking_metrics(scores, targets, n_true=np.array([2, 2]), ks=(5,))
    assert m["precision@5"] == pytest.approx(1 / 10)  # (1/5 + 0/5) / 2: still divided by K
    assert m["recall@5"] == pytest.approx(1 / 4)  # (1/2 + 0) / 2
    assert m["accuracy@5"] == pytest.approx(1 / 2)


def test_average_precision_known_ranking_and_ties() -> None:
    # Column 0: positives at ranks 1 and 3 -> (1/1 + 2/3) / 2 = 5/6.
    # Column 1: all scores tie, so images rank by index: positives img0, img2 at ranks 1 and 3 -> 5/6.
    # Column 2: all tie, single positive img1 at rank 2 -> 1/2.
    scores = np.array([[0.9, 0.5, 0.5], [0.8, 0.5, 0.5], [0.7, 0.5, 0.5], [0.6, 0.5, 0.5]])
    targets = np.array([[T, T, F], [F, F, T], [T, T, F], [F, F, F]])
    assert average_precision(scores, targets) == pytest.approx([5 / 6, 5 / 6, 1 / 2])


def test_map_skips_tags_without_positives() -> None:
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    targets = np.array([[T, F], [F, F], [T, F]])
    ap = average_precision(scores, targets)
    assert ap[0] == pytest.approx(5 / 6)  # ranks 1 and 3
    assert np.isnan(ap[1])
    assert mean_average_precision(scores, targets) == pytest.approx(5 / 6)  # not (5/6 + 0) / 2


def test_average_precision_matches_a_loop_reference() -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 6, size=(50, 9)).astype(np.float64)
    targets = rng.random((50, 9)) < 0.2
    want = []
    for j in range(9):
        hit = targets[np.argsort(-scores[:, j], kind="stable"), j]
        want.append((np.cumsum(hit) / np.arange(1, 51))[hit].mean() if hit.any() else np.nan)
    assert np.allclose(average_precision(scores, targets), want, equal_nan=True)


# 3 images x 3 tags; tag 2 has no positive image.
THR_SCORES = np.array([[0.9, 0.2, 0.8], [0.6, 0.7, 0.1], [0.3, 0.4, 0.1]])
THR_TARGETS = np.array([[T, F, F], [F, T, F], [T, F, F]])


def test_threshold_metrics_scalar() -> None:
    # At 0.5 predictions are [[T F T], [T T F], [F F F]].
    # tag0: TP 1 (img0), FP 1 (img1), FN 1 (img2) -> F1 2/4 = 1/2
    # tag1: TP 1, FP 0, FN 0 -> 1;  tag2: FP 1 (no positive: out of the macro mean)
    # micro: TP 2, FP 2, FN 1 -> 4 / 7;  macro: (1/2 + 1) / 2 = 3/4
    m = threshold_metrics(THR_SCORES, THR_TARGETS, 0.5)
    assert m == {"f1_micro": pytest.approx(4 / 7), "f1_macro": pytest.approx(3 / 4)}


def test_threshold_metrics_per_tag() -> None:
    # thresholds [0.25, 0.5, 0.9]: tag0 predicts all three -> TP 2, FP 1 -> F1 4/5
    # tag1 as before -> 1; tag2 predicts nothing.  micro: TP 3, FP 1, FN 0 -> 6/7
    m = threshold_metrics(THR_SCORES, THR_TARGETS, np.array([0.25, 0.5, 0.9]))
    assert m["f1_micro"] == pytest.approx(6 / 7)
    assert m["f1_macro"] == pytest.approx(9 / 10)  # (4/5 + 1) / 2


# 5 images x 3 tags for calibration.
FIT_SCORES = np.array(
    [
        [0.9, 0.1, 0.4],
        [0.8, 0.2, 0.3],
        [0.3, 0.7, 0.2],
        [0.2, 0.6, 0.1],
        [0.1, 0.9, 0.05],
    ]
)
FIT_TARGETS = np.array(
    [
        [T, F, F],
        [T, F, T],
        [F, T, F],
        [F, T, F],
        [F, T, F],
    ]
)


def test_fit_thresholds_recovers_the_obvious_cut() -> None:
    # tag0 positives score 0.9, 0.8, negatives <= 0.3 -> 0.8 gives F1 = 1.
    # tag1 positives 0.7, 0.6, 0.9, negatives <= 0.2 -> 0.6.  tag2 has 1 positive < 2 -> fallback.
    thr = fit_thresholds(FIT_SCORES, FIT_TARGETS, min_positives=2, fallback=0.42)
    assert thr.tolist() == pytest.approx([0.8, 0.6, 0.42])
    # With min_positives=1, tag2 gets its own best: its one positive scores 0.3 -> threshold 0.3.
    assert fit_thresholds(FIT_SCORES, FIT_TARGETS, min_positives=1)[2] == pytest.approx(0.3)


def test_fit_thresholds_global_fallback_maximises_micro_f1() -> None:
    # Pooled positives: 0.9, 0.8 (tag0), 0.7, 0.6, 0.9 (tag1), 0.3 (tag2); P = 6.
    # F1(t) = 2 TP / (#scores >= t + P):
    #   t=0.9: TP 2, 2 predicted -> 4/8;  0.8: 3, 3 -> 6/9;  0.7: 4, 4 -> 8/10
    #   t=0.6: TP 5, 5 predicted -> 10/11 (best);  t=0.3: TP 6, 8 predicted (adds 0.4, 0.3) -> 12/14
    thr = fit_thresholds(FIT_SCORES, FIT_TARGETS, min_positives=2)
    assert thr.tolist() == pytest.approx([0.8, 0.6, 0.6])


def test_head_tail_split() -> None:
    ap = np.array([0.7, 0.1, 0.5, np.nan, 0.3, 0.7, 0.2, 0.4, 0.6, 0.8, 0.0, 1.0])
    freq = np.array([5, 9, 5, 1, 0, 3, 2, 2, 2, 2, 2, 2])
    # ceil(0.1 * 12) = 2 head tags: tag1 (9), then tag0 wins the tie at 5 over tag2.
    # head: (0.7 + 0.1) / 2 = 0.4;  tail: tags 2, 4..11 (tag3 is NaN) sum 4.5 over 9 = 0.5
    got = head_tail_map(ap, frequencies=freq)
    assert got == {"map_head": pytest.approx(0.4), "map_tail": pytest.approx(0.5)}
    # From targets: positives per tag [1, 3, 0, 2] -> head (half of 4) = tags 1, 3.
    targets = np.array([[T, T, F, T], [F, T, F, T], [F, T, F, F]])
    got = head_tail_map(np.array([0.2, 0.4, np.nan, 0.8]), targets=targets, head_fraction=0.5)
    assert got == {"map_head": pytest.approx(0.6), "map_tail": pytest.approx(0.2)}


def test_popularity_scores_rank_frequent_tags_first() -> None:
    scores = popularity_scores(2, np.array([3, 7, 7, 1]))
    assert scores.shape == (2, 4)
    assert top_k_indices(scores, 3).tolist() == [[1, 2, 0], [1, 2, 0]]  # tie 7/7 -> tag 1 first
    targets = np.array([[F, F, T, F], [T, F, F, F]])
    m = ranking_metrics(scores, targets, ks=(1, 2))
    assert m["accuracy@1"] == 0.0  # both images get tag 1
    assert m["precision@2"] == pytest.approx(1 / 4)  # (1/2 + 0/2) / 2: image 0 hits tag 2


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="NaN"):
        ranking_metrics(np.array([[np.nan, 1.0]]), np.array([[T, F]]))
    with pytest.raises(ValueError, match="shape"):
        ranking_metrics(SCORES, TARGETS[:, :4])
    with pytest.raises(ValueError, match="k must"):
        top_k_indices(SCORES, 0)
    with pytest.raises(ValueError, match="thresholds"):
        threshold_metrics(SCORES, TARGETS, np.array([0.5, 0.5]))
