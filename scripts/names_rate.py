"""Does a top-5 hashtag name what is in the photo? Measured on MSRC-v2 with the default vocabulary, and
on the demo photos against the subject a person sees in each (scripts/quality.py prints both).

A photo counts when one of its hashtags names one of its labelled things (or its plural, or a word for
the same thing: 'aeroplane' -> #airplane #plane #jet; 'face' or 'body' -> a people word), the issue's
rule for COCO. Scene labels that are no object (grass, sky, road, water, tree, building, mountain) do not
count, so a photo labelled only with them is left out.
"""

from __future__ import annotations

from pathlib import Path

PEOPLE = {"people", "person", "man", "woman", "girl", "boy", "selfie", "portrait", "face", "kid", "kids"}
PEOPLE |= {"child", "baby", "men", "guy", "lady", "couple", "crowd", "family", "friends", "selfies"}
#: MSRC-v2's object labels -> the hashtags that name them.
OBJECTS = {
    "body": PEOPLE, "face": PEOPLE, "cow": {"cow", "cows", "cattle", "bull", "calf"}, "car": {"car", "cars"},
    "bird": {"bird", "birds"}, "flower": {"flower", "flowers"}, "book": {"book", "books"},
    "sheep": {"sheep", "lamb"}, "boat": {"boat", "boats", "ship", "sailboat", "yacht"},
    "bicycle": {"bicycle", "bike"}, "sign": {"sign"}, "chair": {"chair", "chairs"},
    "dog": {"dog", "dogs", "puppy"}, "aeroplane": {"airplane", "aeroplane", "plane", "jet"},
    "cat": {"cat", "cats", "kitty"}, "horse": {"horse", "horses", "pony"},
}  # fmt: skip
#: The demo photos' subjects as a person names them (README "Quality"): any one of these words counts.
SUBJECTS = {
    "astronaut": {"astronaut", "space"} | PEOPLE, "camera": {"camera", "photographer"} | PEOPLE,
    "chelsea": {"cat", "kitty"}, "china": {"pagoda", "temple", "architecture", "palace"},
    "coffee": {"coffee", "espresso", "cup"}, "dog": {"dog", "puppy"}, "eagle": {"eagle", "bird"},
    "flower": {"flower", "daisy"}, "giraffe": {"giraffe", "zebra"}, "horses": {"horse", "horses", "pony"},
    "hubble_deep_field": {"galaxy", "space", "stars", "universe"}, "kite": {"kite"},
    "person": PEOPLE | {"horse"}, "rocket": {"rocket", "launch", "space"}, "scream": {"painting", "art"},
}  # fmt: skip


def top_lists(paths: list[Path], top_k: int = 5) -> dict[str, list[str]]:
    """The default model's top-k hashtags for each photo, keyed by path."""
    from hashtagger.models import ModelSpec, open_tagger
    from hashtagger.predict.hashtags import predict_paths
    from hashtagger.runtime import RunOptions

    tagger = open_tagger(ModelSpec("zeroshot"), RunOptions(device="cpu", workers=2, quiet=True))
    return {
        p.path: [h.tag for h in p.hashtags]
        for p in predict_paths(tagger, [str(x) for x in paths], top_k=top_k, workers=2)
        if p.error is None
    }


def hit_rates(lists: dict[str, list[str]], wanted: dict[str, set[str]]) -> tuple[float, float, int]:
    """(share whose top list names a wanted thing, share whose first tag does, photos counted)."""
    counted = [(tags, wanted[path]) for path, tags in lists.items() if wanted.get(path)]
    first = sum(bool(tags) and tags[0] in want for tags, want in counted)
    anywhere = sum(any(t in want for t in tags) for tags, want in counted)
    n = max(len(counted), 1)
    return anywhere / n, first / n, len(counted)


def msrc_names(labels_csv: Path, limit: int | None = None) -> tuple[float, float, int]:
    """hit_rates of the default model's top 5 on MSRC-v2's photos that hold an object."""
    import csv

    rows = list(csv.DictReader(labels_csv.open()))[:limit]
    wanted = {
        str(labels_csv.parent / r["path"]): set().union(*(OBJECTS.get(t, set()) for t in r["tags"].split()))
        for r in rows
    }
    return hit_rates(top_lists([Path(p) for p in wanted]), wanted)


def demo_subjects(folder: Path) -> tuple[float, float, int]:
    """hit_rates of the default model's top 3 on the demo photos against SUBJECTS."""
    paths = sorted(p for p in folder.iterdir() if p.stem in SUBJECTS)
    return hit_rates(top_lists(paths, top_k=3), {str(p): SUBJECTS[p.stem] for p in paths})
