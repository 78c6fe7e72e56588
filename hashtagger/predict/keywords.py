"""The two spellings of a tag: a keyword for photo libraries and a hashtag for social posts.

A vocabulary entry such as `hot dog` is written as the keyword `hot dog` (XMP, IPTC, caption files:
readers there allow spaces, and '#' means nothing to them) and printed as the hashtag `#hotdog`
(a hashtag ends at the first space or punctuation mark, so only letters, digits and '_' are kept).
Keywords compare equal after the vocabulary's normalisation (case, surrounding space, leading '#').
"""

from __future__ import annotations

from hashtagger.data.records import normalize_tag


def keyword(tag: str) -> str:
    """A tag as a photo-library keyword: no leading '#', inner runs of space collapsed, case kept."""
    return " ".join(tag.strip().lstrip("#").split())


def keyword_key(tag: str) -> str:
    """What two keywords are compared by: `Beach`, `#beach` and ` beach ` are one keyword."""
    return " ".join(normalize_tag(tag).split())


def hashtag(tag: str) -> str:
    """A tag as a hashtag body (without '#'): letters, digits and '_' only, so `hot dog` -> `hotdog`."""
    body = "".join(c for c in keyword(tag) if c.isalnum() or c == "_")
    return body or "".join(keyword(tag).split())
