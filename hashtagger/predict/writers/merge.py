"""How new keywords join the ones a photo already carries, whatever the container (sidecar, embedded).

hashtagger marks what it writes with an origin prefix in the hierarchical fields
(`hashtagger|beach` in lr:hierarchicalSubject, `hashtagger/beach` in digiKam:TagsList), so a later
`--replace` can take back exactly its own keywords and never touch the user's: a keyword is taken
back only where its text is exactly what the mark names (the user's `Sunset` is not hashtagger's `sunset`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hashtagger.predict.keywords import keyword_key

ORIGIN = "hashtagger"
LR_SEP = "|"
DIGIKAM_SEP = "/"


@dataclass
class Keywords:
    """The keyword fields of one photo, as lists of strings in file order."""

    subject: list[str] = field(default_factory=list)  # XMP dc:subject (rdf:Bag)
    hierarchical: list[str] = field(default_factory=list)  # XMP lr:hierarchicalSubject (rdf:Bag)
    tags_list: list[str] = field(default_factory=list)  # XMP digiKam:TagsList (rdf:Seq)
    iptc: list[str] | None = None  # IPTC Keywords; None where the container has none (sidecars)

    def any(self) -> bool:
        return bool(self.subject or self.hierarchical or self.tags_list or self.iptc)


@dataclass(frozen=True)
class Merged:
    """The fields after a merge, and which keywords (dc:subject) came and went."""

    keywords: Keywords
    added: list[str]
    removed: list[str]
    changed: bool


def ours(current: Keywords) -> set[str]:
    """The keywords an earlier run of hashtagger wrote, found by the origin prefix, exactly as written.

    Exact text, not the case-folded key: the user's `Sunset` beside hashtagger's `sunset` stays the user's.
    """
    pairs = [(h, LR_SEP) for h in current.hierarchical] + [(t, DIGIKAM_SEP) for t in current.tags_list]
    return {leaf for value, sep in pairs if (leaf := _origin_leaf(value, sep))}


def _origin_leaf(value: str, sep: str) -> str | None:
    head, s, leaf = value.partition(sep)
    return leaf if s and head == ORIGIN and leaf else None


def _add(values: list[str], new: str) -> None:
    if keyword_key(new) not in {keyword_key(v) for v in values}:
        values.append(new)


def merge_keywords(current: Keywords, new: Iterable[str], *, replace: bool = False) -> Merged:
    """Add `new` keywords without duplicates; with `replace`, first drop what hashtagger wrote before.

    A keyword the photo already has (dc:subject or IPTC) gets no origin entry: it stays the user's,
    and `--replace` never removes it. Merging the same keywords twice changes nothing.
    """
    new = list(dict.fromkeys(new))
    subject, hier, tags = list(current.subject), list(current.hierarchical), list(current.tags_list)
    iptc = None if current.iptc is None else list(current.iptc)
    if replace:
        keep = {keyword_key(k) for k in new}
        drop = {w for w in ours(current) if keyword_key(w) not in keep}
        subject = [s for s in subject if s not in drop]
        hier = [h for h in hier if _origin_leaf(h, LR_SEP) not in drop]
        tags = [t for t in tags if _origin_leaf(t, DIGIKAM_SEP) not in drop]
        if iptc is not None:
            iptc = [k for k in iptc if k not in drop]
    had = {keyword_key(k) for k in subject + (iptc or [])}
    for k in new:
        if keyword_key(k) not in had:
            _add(hier, f"{ORIGIN}{LR_SEP}{k}")
            _add(tags, f"{ORIGIN}{DIGIKAM_SEP}{k}")
        _add(subject, k)
        if iptc is not None:
            _add(iptc, k)
    result = Keywords(subject, hier, tags, iptc)
    return Merged(
        result,
        added=[k for k in subject if k not in current.subject],
        removed=[k for k in current.subject if k not in subject],
        changed=result != current,
    )
