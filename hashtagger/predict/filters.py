"""Tag filters the user sets once for every output: excluded tags, forced tags, renamed tags."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hashtagger.errors import InputError
from hashtagger.files import os_reason, read_regular
from hashtagger.predict.keywords import keyword, keyword_key
from hashtagger.predict.predictions import Hashtag, Prediction

#: An @file of tags is a short list: a larger one (or /dev/zero) is refused, not read without end.
MAX_LIST_BYTES = 1 << 20


def expand_values(values: Iterable[str], option: str) -> list[str]:
    """Option values with each `@file` replaced by its lines (blank lines and '# ' comments dropped).

    Only a regular file of at most MAX_LIST_BYTES is read: a FIFO or device is refused at once.
    """
    out: list[str] = []
    for v in values:
        if not v.startswith("@"):
            out.append(v)
            continue
        path = Path(v[1:]).expanduser()
        try:
            lines = read_regular(path, MAX_LIST_BYTES).decode("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            why = os_reason(e) if isinstance(e, OSError) else "not UTF-8 text"
            raise InputError(f"{option} @{path}: cannot read ({why})") from None
        out.extend(x.strip() for x in lines if x.strip() and not x.startswith("# "))
    return out


@dataclass(frozen=True)
class TagFilters:
    """exclude -> rename -> always, applied to every prediction before any output sees it."""

    exclude: frozenset[str] = frozenset()
    always: tuple[str, ...] = ()
    rename: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_options(
        cls, exclude: Iterable[str] = (), always: Iterable[str] = (), rename: Iterable[str] = ()
    ) -> TagFilters:
        """Build from option values whose @files the option parser already expanded (checks.py).

        A malformed rename or an empty forced tag is an InputError.
        """
        pairs: dict[str, str] = {}
        for item in rename:
            old, sep, new = item.partition("=")
            if not sep or not keyword(old) or not keyword(new):
                raise InputError(f"--rename {item!r}: expected OLD=NEW")
            pairs[keyword_key(old)] = keyword(new)
        forced = [keyword(t) for t in always]
        if any(not t for t in forced):
            raise InputError("--always: empty tag")
        return cls(
            exclude=frozenset(keyword_key(t) for t in exclude),
            always=tuple(dict.fromkeys(forced)),
            rename=pairs,
        )

    def __bool__(self) -> bool:
        return bool(self.exclude or self.always or self.rename)

    def fetch_k(self, top_k: int) -> int:
        """How many tags to ask the model for so that `top_k` remain after excluding and merging."""
        return top_k + len(self.exclude) + len(self.rename)

    def apply(self, p: Prediction, top_k: int | None = None) -> Prediction:
        """Excluded tags gone, renames done, at most `top_k` model tags, forced tags first (score 1.0)."""
        if p.error is not None or not self:
            return p
        out: dict[str, Hashtag] = {keyword_key(t): Hashtag(t, 1.0) for t in self.always}
        kept = 0
        for h in p.hashtags:
            tag = self.rename.get(keyword_key(h.tag), h.tag)
            key = keyword_key(tag)
            if keyword_key(h.tag) in self.exclude or key in self.exclude or key in out:
                continue
            if top_k is not None and kept >= top_k:
                break
            out[key] = Hashtag(tag, h.score)
            kept += 1
        return replace(p, hashtags=list(out.values()))
