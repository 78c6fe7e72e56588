"""How good the suggestions are, in one table: specificity on demo photos, accuracy on real multi-label
photos, and the HARRISON tag-list simulations (the default ranking, and --profile).

    python scripts/quality.py                      # everything, from ../shared/data (about 1 minute)
    python scripts/quality.py --skip datasets      # leave out a part (demo, datasets, harrison, profile)

Parts whose data is absent are skipped with a message. The options below point each part at other (e.g.
tiny) data: --demo DIR, --msrc CSV, --clothing CSV, --harrison DIR, and --limit/--images/--users size them.

- demo: the default model on --demo's photos, top 5: the share of slots holding one of HARRISON's 10
  most popular tags, and the most lists any one tag is in (fewer = more about each photo).
- names: does a top-5 hashtag of the default model (default vocabulary) name an object in the photo, and
  does the first one (scripts/names_rate.py), on MSRC-v2's photos that hold one; and on the demo photos,
  does a top-3 hashtag name the subject a person sees.
- datasets: `evaluate` on MSRC-v2 (all 591 photos, 23 tags) and clothing-small (validation), each over
  its own vocabulary: zeroshot, hierse, visual only (zeroshot --prior-weight 0) and popularity.
- harrison: scripts/tune_blend.py's simulations on real tag lists: ConSE embeddings simulated from each
  photo's crawl tag (popularity, the previous blend and the default ranking, at signal shares rho), and the
  same photos through the shipped model's head (a simulated classifier into its ConSE and class names).
- profile: simulated users (see profile_simulation below): held-out posts ranked with HARRISON's
  statistics alone and with the user's own history mixed in (--profile-weight 0.5 and 1).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
SHARED = ROOT.parent / "shared" / "data"
PARTS = ("demo", "names", "datasets", "harrison", "profile")


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def demo_part(folder: Path, top_k: int = 5) -> list[str]:
    """Top-k of the default model on each demo photo, and how generic the lists are."""
    from hashtagger.models import ModelSpec, open_tagger
    from hashtagger.models.tagstats import load_tag_stats
    from hashtagger.predict.hashtags import predict_paths
    from hashtagger.predict.inputs import expand_inputs
    from hashtagger.runtime import RunOptions

    popular = set(load_tag_stats().vocabulary[:10])
    tagger = open_tagger(ModelSpec("zeroshot"), RunOptions(device="cpu", workers=2, quiet=True))
    lists = {}
    for p in predict_paths(tagger, expand_inputs([str(folder)]), top_k=top_k, workers=2):
        if p.error is None:
            lists[Path(p.path).name] = [h.tag for h in p.hashtags]
    slots = sum(len(v) for v in lists.values())
    share = sum(t in popular for v in lists.values() for t in v) / max(slots, 1)
    tag, most = Counter(t for v in lists.values() for t in v).most_common(1)[0] if slots else ("-", 0)
    lines = [f"{name}: " + " ".join("#" + t for t in tags) for name, tags in lists.items()]
    lines.append(
        row(
            [
                "demo photos",
                f"{len(lists)} photos, top {top_k}",
                f"popular-tag share {100 * share:.0f}%",
                f"most lists per tag {most} (#{tag})",
            ]
        )  # fmt: skip
    )
    return lines


MODELS = ("zeroshot", "hierse", "visual only")


def dataset_part(
    name: str, path: Path, split: str, limit: int | None, models: tuple[str, ...] = MODELS
) -> list[str]:
    """evaluate's rows over the set's own vocabulary: zeroshot, hierse, visual only, popularity."""
    from hashtagger.data import load_dataset
    from hashtagger.errors import HashtaggerError
    from hashtagger.evaluate.run import evaluate_dataset
    from hashtagger.models.spec import ModelSpec
    from hashtagger.runtime import RunOptions

    dataset = load_dataset(path, write_split_file=False)
    if limit:
        records = dataset.split(split)[:limit]
        dataset.split = lambda s, _r=records: _r  # type: ignore[method-assign]

    lines = []
    for spec in models:
        try:
            visual = spec == "visual only"
            run = RunOptions(device="cpu", workers=2, quiet=True)
            result = evaluate_dataset(
                dataset, split, [ModelSpec("zeroshot", prior_weight=0.0) if visual else spec], run=run
            )
        except HashtaggerError as e:
            lines.append(row([name, spec, f"skipped: {e}", "", "", ""]))
            continue
        for m in result["models"]:
            if m["model"] == "popularity" and spec != models[0]:
                continue
            label = "visual only" if visual and m["model"] != "popularity" else m["model"]
            x = m["metrics"]
            lines.append(
                row(
                    [
                        name,
                        label,
                        f"{100 * x['map']:.1f}",
                        f"{100 * x['precision@1']:.1f}",
                        f"{100 * x['accuracy@5']:.1f}",
                        str(result["images"]),
                    ]
                )  # fmt: skip
            )
    return lines


def names_part(msrc: Path, demo: Path, limit: int | None) -> list[str]:
    """scripts/names_rate.py: hashtags that name what is in the photo (MSRC-v2 objects, demo subjects)."""
    from names_rate import demo_subjects, msrc_names

    lines = []
    if msrc.is_file():
        top5, first, n = msrc_names(msrc, limit)
        lines.append(row(["names an object (MSRC-v2)", f"{n} photos", f"top 5 {100 * top5:.1f}%",
                          f"first {100 * first:.1f}%", "", ""]))  # fmt: skip
    top3, first, n = demo_subjects(demo) if demo.is_dir() else (0.0, 0.0, 0)
    if n:
        lines.append(row(["names the subject (demo)", f"{n} photos", f"top 3 {round(top3 * n)} of {n}",
                          f"first {round(first * n)} of {n}", "", ""]))  # fmt: skip
    return lines


def harrison_part(harrison: Path, images: int) -> list[str]:
    """The tune_blend simulations: popularity, the previous blend and the default ranking; then through the
    shipped head (mean / A@5 per rho)."""
    from tune_blend import compare_rankings, through_head

    lines = []
    for rho, res in compare_rankings(harrison, images).items():
        cells = [f"{k} {v[0]:.3f} / {v[1]:.3f}" for k, v in res.items()]
        lines.append(row([f"HARRISON simulation rho={rho}", *cells]))
    head = [f"rho {rho}: {mean:.3f} / {a5:.3f}" for rho, (mean, a5) in through_head(harrison, images).items()]
    return [*lines, row(["HARRISON through the shipped head", *head])]


def profile_part(harrison: Path, users: int) -> list[str]:
    from profile_simulation import simulate_profiles

    lines = []
    for name, res in simulate_profiles(harrison, users).items():
        lines.append(
            row(
                [
                    f"profile simulation ({users} users)",
                    name,
                    f"P@1 {res['p1']:.3f}",
                    f"R@5 {res['r5']:.3f}",
                    f"A@5 {res['a5']:.3f}",
                    f"held-out tags' mean rank {res['rank']:.1f}",
                ]
            )  # fmt: skip
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", type=Path, default=SHARED / "demo-photos")
    ap.add_argument("--msrc", type=Path, default=SHARED / "msrc-v2" / "labels.csv")
    ap.add_argument("--clothing", type=Path, default=SHARED / "clothing-small" / "labels.csv")
    ap.add_argument("--harrison", type=Path, default=SHARED / "harrison-meta")
    ap.add_argument("--limit", type=int, default=None, help="at most this many photos per dataset")
    ap.add_argument("--images", type=int, default=3000, help="HARRISON tag lists in the ranking simulation")
    ap.add_argument("--users", type=int, default=300, help="simulated users in the profile simulation")
    ap.add_argument("--skip", action="append", choices=PARTS, default=[], help="leave out a part")
    ap.add_argument("--models", default=",".join(MODELS), help="models of the datasets part, comma-separated")
    args = ap.parse_args(argv)

    out = ["| part | | | | | |", "|---|---|---|---|---|---|"]
    notes = []
    if "demo" not in args.skip:
        if args.demo.is_dir():
            lines = demo_part(args.demo)
            notes += [line for line in lines if not line.startswith("|")]
            out += [line for line in lines if line.startswith("|")]
        else:
            print(f"skipping demo: {args.demo} not found", file=sys.stderr)
    if "names" not in args.skip:
        out += names_part(args.msrc, args.demo, args.limit)
    if "datasets" not in args.skip:
        out.append(row(["set", "model", "mAP", "P@1", "A@5", "photos"]))
        for name, path, split in (
            ("MSRC-v2", args.msrc, "all"),
            ("clothing-small", args.clothing, "validation"),
        ):
            if path.is_file():
                out += dataset_part(name, path, split, args.limit, tuple(args.models.split(",")))
            else:
                print(f"skipping {name}: {path} not found", file=sys.stderr)
    has_harrison = (args.harrison / "tag_list.txt").is_file() and (args.harrison / "data_list.txt").is_file()
    for part, fn, size in (("harrison", harrison_part, args.images), ("profile", profile_part, args.users)):
        if part in args.skip:
            continue
        if has_harrison:
            out += fn(args.harrison, size)
        else:
            print(f"skipping {part}: no HARRISON tag lists in {args.harrison}", file=sys.stderr)
    print("\n".join(notes))
    print("\n".join(out))


if __name__ == "__main__":
    main()
