"""Ranking: a model's content scores + how people tag -> the order hashtags are suggested in, with the parts.

A model gives `q`, a distribution over its tags of what the photo shows. The social prior gives tag
popularity `pi` and co-occurrence `P(t | v)` (HARRISON's tag lists, a user's own posts, or a mix).

    visual       = (1 - w) * q_t
    cooccurrence = w * beta * sum_v q_v P(t | v)    tags people use alongside what is visible
    popularity   = w * (1 - beta) * pi_t            tags people use on any photo
    blend        = visual + cooccurrence + popularity

A tag measured absent from the photo (colours.py: the photo has no yellow in it) gets no social part
either, so that what people post with #blue does not put #yellow on a blue photo.

Three rules then put the photo first and keep the list socially right (scripts/tune_blend.py measures
them on HARRISON's tag lists, README "How hashtags are ranked"):

- Reach tags come after content. A *reach* tag is a popular tag (prior at least `reach_popularity`
  times the uniform share: #love, #friend, #beach on HARRISON) that the photo does not show (q_t below
  its prior); with --profile, on a photo that shows something (a tag with q_t >= `shown`), so is any
  tag the user favours more than everyone does that the photo does not show (#cat in a cat lover's
  profile, on a photo of coffee), and one the photo does not show at all (q_t below `shown`) comes after
  every tag it does show; on a photo that shows nothing clearly, the user's habits may lead.
  The j-th reach tag may take position ceil(j * reach_window / reach_slots) at best: with
  the defaults at most 2 of the top 5, and never the first.
- Reach tags the photo explains win the reach slots. Their lift, the co-occurrence part over what a
  photo showing nothing in particular (uniform q) gets, ranks them: blend * lift**reach_lift; one whose
  lift is below `reach_min_lift` stays out of the first `reach_window` positions (off by default: at 1,
  with w 0.35, the HARRISON simulation through the shipped head scored 0.159 / 0.160 / 0.166 at rho
  0.1 / 0.2 / 0.3 instead of 0.162 / 0.162 / 0.168).
- Diversity (maximal marginal relevance): a tag's value is discounted by `diversity` times how close
  its label is to a tag already chosen (label cosine, from `similar_from` = 0 up to 1 = full), so
  #dog #dogs #puppy #pup do not fill the list.

The order is built greedily for the first `greedy` positions; `score` is the value each tag had when
it was chosen, made strictly decreasing, so that sorting by score gives exactly this order and
`evaluate` measures what `predict` prints. The rest follow by their discounted value.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from hashtagger.models.labels import unit_rows

PARTS = ("visual", "cooccurrence", "popularity")


@dataclass(frozen=True)
class Ranking:
    """Ranking parameters; the defaults and how they were chosen are in scripts/tune_blend.py."""

    prior_weight: float = 0.35  # w: share of the social part
    cooc_share: float = 0.5  # beta: co-occurrence vs plain popularity inside the social part
    reach_slots: int = 2  # at most this many reach tags ...
    reach_window: int = 5  # ... in this many positions, and never first
    reach_popularity: float = 8.0  # popular: prior >= this many times the uniform share
    reach_lift: float = 2.0  # reach tags are ordered by blend * lift**reach_lift
    reach_min_lift: float = 0.0  # reach tags with a lower lift stay out of the window (0: none do)
    diversity: float = 0.5  # MMR: how much a near-duplicate of a chosen tag is discounted
    similar_from: float = (
        0.7  # label cosine at which the discount starts (dog/puppy 0.80, shirt/t-shirt 0.84)
    )
    greedy: int = 30  # positions ordered greedily; the rest by discounted blend
    shown: float = 0.05  # a photo shows a tag when q_t is at least this share (profile tags wait for it)


DEFAULT_RANKING = Ranking()


@dataclass(frozen=True)
class SocialPrior:
    """Tag popularity (V,) summing to 1 and co-occurrence P(t | v) (V, V), rows summing to 1."""

    prior: np.ndarray
    cond: np.ndarray
    source: str = "HARRISON"
    generic: np.ndarray | None = None  # the popularity that decides reach tags (default: prior)

    @property
    def reach_prior(self) -> np.ndarray:
        return self.prior if self.generic is None else self.generic

    @classmethod
    def harrison(cls, vocabulary: list[str]) -> SocialPrior:
        """The shipped HARRISON statistics over any vocabulary (unknown tags get a neutral prior)."""
        from hashtagger.models.tagstats import load_tag_stats

        prior, cond = load_tag_stats().restrict(vocabulary)
        return cls(prior, cond, "HARRISON")

    def mixed(self, other: SocialPrior, share: float) -> SocialPrior:
        """(1 - share) * self + share * other: share 1 replaces these statistics.

        Which tags count as generic reach tags stays decided by these (everyone's) statistics, so that
        a user's own favourite tags are never held back as reach tags.
        """
        prior = (1.0 - share) * self.prior + share * other.prior
        cond = (1.0 - share) * self.cond + share * other.cond
        source = other.source if share >= 1.0 else f"{self.source}+{other.source}"
        return SocialPrior(prior.astype(np.float32), cond.astype(np.float32), source, self.reach_prior)


@dataclass(frozen=True)
class Ranked:
    """A batch ranked: arrays are (N, V), or (V,) for one photo (`row`), aligned with the vocabulary."""

    score: np.ndarray  # ranking score, strictly decreasing along the order
    visual: np.ndarray
    cooccurrence: np.ndarray
    popularity: np.ndarray
    reach: np.ndarray  # bool: a popular tag that this photo does not explain
    similar_to: np.ndarray  # int: index of the chosen tag that discounted this one, -1 if none
    discount: np.ndarray  # diversity discount subtracted from the blend
    lift: np.ndarray  # co-occurrence part over what a photo showing nothing in particular gets
    held: np.ndarray  # bool: scored below its value to keep the order (a reach tag held after content)

    def row(self, i: int) -> Ranked:
        """One photo's arrays."""
        return Ranked(*(getattr(self, f.name)[i] for f in fields(self)))

    def explain(self, col: int, vocabulary: list[str]) -> dict[str, object]:
        """The parts of one tag on one photo (a `row`), as json output carries them."""
        parts: dict[str, object] = {
            "visual": float(self.visual[col]),
            "social": float(self.cooccurrence[col] + self.popularity[col]),
            "cooccurrence": float(self.cooccurrence[col]),
            "popularity": float(self.popularity[col]),
            "kind": "reach" if self.reach[col] else "content",
        }
        if self.reach[col]:
            parts["lift"] = float(self.lift[col])
        if self.held[col]:
            parts["held"] = True
        other = int(self.similar_to[col])
        if other >= 0 and self.discount[col] > 0:
            parts["similar_to"] = vocabulary[other]
            parts["discount"] = float(self.discount[col])
        return parts


class Ranker:
    """Turns content distributions into ranked, explained hashtags over one vocabulary."""

    def __init__(
        self,
        ranking: Ranking,
        social: SocialPrior | None,
        label_embeddings: np.ndarray | None = None,
    ) -> None:
        self.ranking = ranking
        self.social = social if ranking.prior_weight > 0 else None
        self.similarity: np.ndarray | None = None
        if label_embeddings is not None and ranking.diversity > 0:
            e = unit_rows(label_embeddings)
            sim = e @ e.T
            np.fill_diagonal(sim, 0.0)
            lo = ranking.similar_from
            self.similarity = np.clip((sim - lo) / max(1.0 - lo, 1e-6), 0.0, 1.0).astype(np.float32)
        self._base_cooc: np.ndarray | None = None
        if self.social is not None:
            v = len(self.social.prior)
            self._base_cooc = self._blend(np.full((1, v), 1.0 / v, dtype=np.float32))[1][0]

    def with_social(self, social: SocialPrior | None, ranking: Ranking | None = None) -> Ranker:
        """Other tag statistics (or parameters); the label similarities are kept, not recomputed."""
        other = Ranker(ranking or self.ranking, social)
        other.similarity = self.similarity
        return other

    def _blend(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        r = self.ranking
        if self.social is None:
            zero = np.zeros_like(q)
            return q, zero, zero, q
        w, beta = r.prior_weight, r.cooc_share
        visual = (1.0 - w) * q
        cooc = (w * beta) * (q @ self.social.cond)
        pop = np.broadcast_to((w * (1.0 - beta)) * self.social.prior, q.shape)
        return visual, cooc, pop, visual + cooc + pop

    def rank(self, content: np.ndarray, absent: np.ndarray | None = None) -> Ranked:
        """content: (N, V) non-negative scores of what each photo shows, normalised here to sum 1; absent:
        (N, V) bool, the tags each photo was measured not to show (colours.py), or None."""
        q = np.asarray(content, dtype=np.float32)
        q = np.maximum(q, 0.0)
        q = q / np.maximum(q.sum(axis=1, keepdims=True), 1e-12)
        visual, cooc, pop, blend = self._blend(q)
        if absent is not None and self.social is not None:  # measured absent: no social part lifts it back
            cooc, pop, blend = (np.where(absent, 0.0, a) for a in (cooc, pop, blend))
        reach = np.zeros(q.shape, dtype=bool)
        habit = np.zeros(q.shape, dtype=bool)
        if self.social is not None and self.ranking.reach_slots > 0:
            prior = self.social.reach_prior[None, :]
            popular = prior * q.shape[1] >= self.ranking.reach_popularity
            reach = popular & (q < prior)
            if self.social.generic is not None:  # a profile: on a photo that shows something, the user's
                mine = self.social.prior[None, :]  # own tags it does not show wait like reach tags
                shows = q.max(axis=1, keepdims=True) >= self.ranking.shown
                habit = (mine > prior) & (q < mine) & shows
                reach |= habit
        order_value = blend
        unexplained = np.zeros(q.shape, dtype=bool)
        lift = np.ones_like(q)
        if self._base_cooc is not None:
            lift = cooc / np.maximum(self._base_cooc[None, :], 1e-12)
        if reach.any():
            if self.ranking.reach_lift > 0:
                order_value = np.where(reach, blend * lift**self.ranking.reach_lift, blend)
            unexplained = reach & (lift < self.ranking.reach_min_lift)
        shown = q >= self.ranking.shown
        waits = habit & ~shown  # a habit the photo does not show comes after every tag it does show
        score, similar_to, discount, held = self._order(
            order_value.astype(np.float32), reach, unexplained, waits, shown
        )
        pop = np.ascontiguousarray(pop)
        return Ranked(score, visual, cooc, pop, reach, similar_to, discount, lift.astype(np.float32), held)

    def _order(
        self,
        blend: np.ndarray,
        reach: np.ndarray,
        unexplained: np.ndarray,
        waits: np.ndarray,
        shown: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Greedy order (reach spacing, diversity) -> decreasing scores, discounting partner, discount."""
        r = self.ranking
        n, v = blend.shape
        rows = np.arange(n)
        nearest = np.zeros((n, v), dtype=np.float32)  # max discount weight towards any chosen tag
        partner = np.full((n, v), -1, dtype=np.int64)
        chosen = np.zeros((n, v), dtype=bool)
        score = np.empty((n, v), dtype=np.float32)
        discount = np.zeros((n, v), dtype=np.float32)
        held = np.zeros((n, v), dtype=bool)
        n_reach = np.zeros(n, dtype=np.int64)
        last = np.full(n, np.inf, dtype=np.float32)
        spacing = r.reach_slots > 0 and r.reach_window > 0 and reach.any()
        waiting = bool(waits.any())  # only with --profile: skip the check for everyone else
        for pos in range(min(r.greedy, v)):
            value = blend * (1.0 - r.diversity * nearest)
            obj = np.where(chosen, -np.inf, value)
            if spacing:
                allowed = ((pos + 1) * r.reach_slots) // r.reach_window
                blocked = reach & (n_reach >= allowed)[:, None] & ~chosen
                if pos < r.reach_window:
                    blocked |= unexplained
                if waiting:
                    blocked |= waits & (shown & ~chosen).any(axis=1, keepdims=True)
                free = np.where(blocked, -np.inf, obj)
                # a vocabulary of reach tags only: take the best one rather than nothing
                obj = np.where(np.isfinite(free).any(axis=1, keepdims=True), free, obj)
            pick = obj.argmax(axis=1)
            s = np.minimum(value[rows, pick], np.nextafter(last, np.float32(-np.inf)))
            score[rows, pick] = s
            held[rows, pick] = s < value[rows, pick] * (1 - 1e-5)
            discount[rows, pick] = blend[rows, pick] - value[rows, pick]
            last = s
            chosen[rows, pick] = True
            n_reach += reach[rows, pick]
            if self.similarity is not None:
                sim = self.similarity[pick]  # (n, v)
                closer = (sim > nearest) & ~chosen
                nearest = np.where(closer, sim, nearest)
                partner = np.where(closer, pick[:, None], partner)
        value = blend * (1.0 - r.diversity * nearest)
        rest = np.minimum(value, np.nextafter(last, np.float32(-np.inf))[:, None])
        score = np.where(chosen, score, rest).astype(np.float32)
        discount = np.where(chosen, discount, blend - value).astype(np.float32)
        return score, partner, discount, held
