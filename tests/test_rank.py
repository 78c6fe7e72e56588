"""Ranking: parts add up, reach tags come after content, near-duplicates are kept apart."""

from __future__ import annotations

import numpy as np

from hashtagger.metrics import top_k_indices
from hashtagger.rank import Ranker, Ranking, SocialPrior


def _prior(prior: list[float]) -> SocialPrior:
    p = np.asarray(prior, dtype=np.float32)
    p = p / p.sum()
    cond = np.tile(p, (len(p), 1))  # co-occurrence that says nothing beyond popularity
    return SocialPrior(p, cond, "test")


def _order(ranker: Ranker, q: list[float]) -> list[int]:
    r = ranker.rank(np.asarray([q], dtype=np.float32))
    return [int(i) for i in top_k_indices(r.score, len(q))[0]]


def test_parts_are_the_blend_by_hand() -> None:
    social = _prior([3, 1])
    ranker = Ranker(Ranking(prior_weight=0.5, cooc_share=0.5, reach_slots=0, diversity=0), social)
    r = ranker.rank(np.array([[1.0, 3.0]], dtype=np.float32))  # q = [0.25, 0.75]
    # visual = 0.5 * q; cooc = 0.25 * q @ cond = 0.25 * prior; popularity = 0.25 * prior
    np.testing.assert_allclose(r.visual[0], [0.125, 0.375], rtol=1e-6)
    np.testing.assert_allclose(r.cooccurrence[0], [0.1875, 0.0625], rtol=1e-6)
    np.testing.assert_allclose(r.popularity[0], [0.1875, 0.0625], rtol=1e-6)
    np.testing.assert_allclose(r.score[0], [0.5, 0.5 - 1e-7], atol=1e-6)
    assert r.score[0, 0] > r.score[0, 1]  # a tie goes to the earlier tag, strictly


def test_reach_tags_never_first_and_at_most_two_in_five() -> None:
    # tags 0-2 are very popular and not shown; 3-9 are what the photo shows, weakly
    social = _prior([40, 35, 30] + [1] * 57)
    q = [0.0, 0.0, 0.0] + [0.1] * 7 + [0.0] * 50
    old = Ranker(Ranking(prior_weight=0.5, reach_slots=0, diversity=0, reach_min_lift=0), social)
    assert set(_order(old, q)[:3]) == {0, 1, 2}  # plain blend: the popular tags win
    new = Ranker(Ranking(prior_weight=0.5, diversity=0, reach_min_lift=0), social)
    order = _order(new, q)
    assert order[0] not in (0, 1, 2) and order[1] not in (0, 1, 2)
    assert len({0, 1, 2} & set(order[:5])) == 2 and order[2] in (0, 1, 2) and order[4] in (0, 1, 2)
    ranked = new.rank(np.asarray([q], dtype=np.float32))
    assert ranked.reach[0, :3].all() and not ranked.reach[0, 3:].any()
    assert ranked.row(0).explain(order[2], [str(i) for i in range(60)])["held"] is True  # beat content
    assert not ranked.held[0, order[:2]].any()


def test_reach_tag_the_photo_does_not_explain_stays_out_of_the_window() -> None:
    p = np.array([40, 30] + [1] * 48, dtype=np.float32)
    p /= p.sum()
    cond = np.tile(p, (50, 1))
    cond[2] = [0.0, 0.5] + [0.01] * 48  # people who tag what tag 2 shows use tag 1, never tag 0
    social = SocialPrior(p, cond / cond.sum(1, keepdims=True), "test")
    q = [0.0, 0.0, 0.5] + [0.5 / 47] * 47
    order = _order(Ranker(Ranking(diversity=0, reach_min_lift=1.0), social), q)
    assert 1 in order[:5] and 0 not in order[:5]


def test_near_duplicates_are_discounted() -> None:
    emb = np.array([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0]], dtype=np.float32)  # 0 and 1 nearly the same
    q = [0.5, 0.3, 0.2]
    plain = Ranker(Ranking(prior_weight=0, diversity=0), None, emb)
    assert _order(plain, q) == [0, 1, 2]
    mmr = Ranker(Ranking(prior_weight=0, diversity=0.9), None, emb)
    assert _order(mmr, q) == [0, 2, 1]
    r = mmr.rank(np.asarray([q], dtype=np.float32)).row(0)
    parts = r.explain(1, ["dog", "dogs", "beach"])
    assert parts["similar_to"] == "dog" and parts["discount"] > 0
    assert "similar_to" not in r.explain(0, ["dog", "dogs", "beach"])


def test_sorting_scores_gives_the_greedy_order_beyond_the_greedy_positions() -> None:
    rng = np.random.default_rng(0)
    social = _prior(list(rng.random(60) ** 4 * 100 + 1))
    ranker = Ranker(Ranking(greedy=10), social, rng.normal(size=(60, 8)))
    r = ranker.rank(rng.random((4, 60)))
    for row in r.score:
        s = np.sort(row)[::-1]
        assert (np.diff(s[:11]) < 0).all()


def test_mixed_prior_keeps_everyones_reach_tags() -> None:
    everyone = _prior([50, 1, 1, 1])
    mine = _prior([1, 1, 1, 50])
    mixed = everyone.mixed(mine, 1.0)
    np.testing.assert_allclose(mixed.prior, mine.prior)
    np.testing.assert_allclose(mixed.reach_prior, everyone.prior)
    half = everyone.mixed(mine, 0.5)
    np.testing.assert_allclose(half.prior, 0.5 * (everyone.prior + mine.prior), rtol=1e-6)


def test_a_habit_the_photo_does_not_show_comes_after_every_tag_it_does() -> None:
    """A profile's favourite (tag 9, which the photo does not show) would win the third place on the blend;
    it waits until the four tags the photo shows are placed, and still comes before the rest."""
    everyone = _prior([1] * 20)
    mine = _prior([1] * 9 + [400] + [1] * 10)
    q = [0.3, 0.25, 0.2, 0.1] + [0.15 / 16] * 16
    ranker = Ranker(Ranking(prior_weight=0.6, diversity=0), everyone.mixed(mine, 1.0))
    order = _order(ranker, q)
    assert order[:5] == [0, 1, 2, 3, 9]
    no_wait = Ranker(Ranking(prior_weight=0.6, diversity=0, shown=1.0), everyone.mixed(mine, 1.0))
    # where no tag counts as shown (`shown` 1) the habit is ranked by its blend and jumps a shown tag
    assert _order(no_wait, q).index(9) < 4
