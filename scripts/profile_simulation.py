"""Does --profile help? Simulated users from HARRISON's real tag lists, with part of their history held out.

    python scripts/profile_simulation.py [--harrison ../shared/data/harrison-meta] [--users 300]

HARRISON has no user ids, so a user is simulated: two interests (two crawl folders, e.g. #dog and
#beach), 40 posts drawn from them half and half, their real tag lists kept as they are. 30 posts are the
history (the --profile file), 10 are held out. Each held-out photo's visual side is simulated as in
scripts/tune_blend.py (rho = 0.2: the share of the ConSE embedding that comes from what the photo shows).
It is then ranked with HARRISON's statistics alone and with the user's history mixed in as --profile mixes
it (--profile-weight 0.5: share 0.5 * 30 / (30 + 20) = 0.3; 1: the history alone), and its real tags
are scored: P@1, R@5, A@5 and the mean rank of its tags (1 = first). The users' habits here are their
interests' tags, not personal quirks, so this measures the co-occurrence and popularity a history adds.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def simulate_profiles(
    harrison: Path, users: int = 300, posts: int = 40, held: int = 10, rho: float = 0.2, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Metrics of held-out posts ranked without a profile and with profile weights 0.5 and 1."""
    from tune_blend import (
        model_embeddings,
        read_lists,
        related_embeddings,
        simulated_similarities,
        softmax,
        targets_of,
    )

    from hashtagger.metrics import ranking_metrics
    from hashtagger.models.zeroshot import BLEND
    from hashtagger.profile import personal_prior, profile_share
    from hashtagger.rank import Ranker, SocialPrior

    vocab, label, classes = model_embeddings()
    folders, tag_lists = read_lists(harrison)
    by_folder: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(folders):
        by_folder[f].append(i)
    names = sorted(f for f, ids in by_folder.items() if len(ids) >= posts)
    if len(names) < 2:
        raise SystemExit(f"{harrison}: too few photos per crawl folder to simulate users")
    rng = np.random.default_rng(seed)
    harrison_prior = SocialPrior.harrison(vocab)
    base = Ranker(BLEND.rules(), harrison_prior, label)
    related = related_embeddings(label, classes)  # the same for every user
    settings = {"HARRISON only": None, "profile weight 0.5": 0.5, "profile weight 1": 1.0}
    scores: dict[str, list[np.ndarray]] = {k: [] for k in settings}
    truth = []
    for _ in range(users):
        a, b = rng.choice(len(names), 2, replace=False)
        ids = [*rng.choice(by_folder[names[a]], posts // 2, replace=False)]
        ids += [*rng.choice(by_folder[names[b]], posts - posts // 2, replace=False)]
        rng.shuffle(ids)
        history, test = ids[: posts - held], ids[posts - held :]
        photos = [folders[i] for i in test]
        q = softmax(simulated_similarities(photos, rho, vocab, label, classes, rng, related), BLEND.tau)
        truth.append(targets_of([tag_lists[i] for i in test], vocab))
        mine = personal_prior([tuple(tag_lists[i]) for i in history], vocab, "simulated")
        for name, weight in settings.items():
            share = profile_share(weight, len(history)) if weight is not None else 0.0
            ranker = base if weight is None else base.with_social(harrison_prior.mixed(mine, share))
            scores[name].append(ranker.rank(q).score)
    targets = np.concatenate(truth)
    out = {}
    for name, parts in scores.items():
        s = np.concatenate(parts)
        m = ranking_metrics(s, targets, targets.sum(1), ks=(1, 5))
        ranks = (-s).argsort(1, kind="stable").argsort(1) + 1
        out[name] = {
            "p1": m["precision@1"],
            "r5": m["recall@5"],
            "a5": m["accuracy@5"],
            "rank": float(ranks[targets].mean()),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--harrison", type=Path, default=ROOT.parent / "shared" / "data" / "harrison-meta")
    ap.add_argument("--users", type=int, default=300)
    args = ap.parse_args()
    if not (args.harrison / "tag_list.txt").is_file():
        sys.exit(f"skipping: no HARRISON tag lists in {args.harrison} (pass --harrison DIR)")
    for name, m in simulate_profiles(args.harrison, args.users).items():
        print(
            f"{name:<20} P@1 {m['p1']:.3f}  R@5 {m['r5']:.3f}  A@5 {m['a5']:.3f}  mean rank {m['rank']:.1f}"
        )


if __name__ == "__main__":
    main()
