"""Hashtags -> the photo library: tag filters, then each `--write` target, one photo at a time.

A photo whose metadata cannot be written fails alone: its prediction becomes an error record (one
stderr line, `{path, error}` in json/jsonl) and the batch goes on.

Photos that share a stem (a.jpg, a.png) would share one caption file (a.txt) and one `--sidecar-name
base` sidecar (a.xmp): the first photo of the run to reach it writes it, the others fail in one line
naming the file and that photo, so no file ever mixes the tags of two photos.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from hashtagger.errors import HashtaggerError, InputError
from hashtagger.predict.filters import TagFilters
from hashtagger.predict.keywords import keyword
from hashtagger.predict.predictions import Prediction
from hashtagger.predict.writers.settings import WriterSettings
from hashtagger.words import plural

_NOUNS = {"xmp": "sidecar", "embed": "photo", "txt": "caption file"}


class LibraryWriter:
    """Applies the filters to every prediction and writes its keywords where the settings say."""

    def __init__(self, settings: WriterSettings, top_k: int | None = None) -> None:
        self.settings, self.top_k = settings, top_k
        self.filters = TagFilters.from_options(settings.exclude, settings.always, settings.rename)
        if "embed" in settings.targets:
            from hashtagger.predict.writers.embed import require_exiv2

            require_exiv2()  # a missing extra is one error before any photo is read
        self.counts: Counter[tuple[str, str]] = Counter()
        self.skipped = 0
        self.owners: dict[tuple[str, str], str] = {}  # (target, file that stems can share) -> its photo

    def fetch_k(self, top_k: int) -> int:
        """Tags to ask the model for: a few more than `top_k` when filters will drop some."""
        return self.filters.fetch_k(top_k)

    def pending(self, items: Iterable[object]) -> Iterator[object]:
        """The inputs minus photos that already carry keywords (with `--skip-tagged`), counted."""
        if not self.settings.skip_tagged:
            yield from items
            return
        from hashtagger.predict.writers.tagged import already_tagged

        for item in items:
            if isinstance(item, str) and already_tagged(item, self.settings):
                self.skipped += 1
                continue
            yield item

    def apply(self, p: Prediction, note: Callable[[str], None]) -> Prediction:
        """Filter, then write every target; `note` receives the dry-run lines."""
        p = self.filters.apply(p, self.top_k)
        if p.error is not None or not self.settings.targets:
            return p
        words = list(dict.fromkeys(keyword(h.tag) for h in p.hashtags))
        errors = []
        for target in self.settings.targets:
            try:
                self._claim(target, p.path)
                path, changed, added, removed = self._write(target, p.path, words)
            except HashtaggerError as e:
                errors.append(str(e))
                continue
            self.counts[(target, "changed" if changed else "unchanged")] += 1
            if self.settings.dry_run and changed:
                note(f"would write {path}: {_change_text(added, removed)}")
        if errors:
            return replace(p, hashtags=[], error="; ".join(errors))
        return p

    def _claim(self, target: str, photo: str) -> None:
        """InputError when another photo of this run already owns the file that `photo` would write."""
        s = self.settings
        if target == "txt":
            from hashtagger.predict.writers.captions import caption_path

            path = caption_path(photo, s.caption_ext)
        elif target == "xmp" and s.sidecar_name == "base":
            from hashtagger.predict.writers.sidecar import sidecar_path

            path = sidecar_path(photo, s.sidecar_name)
        else:
            return  # photo.jpg.xmp and the photo itself belong to one photo only
        key = (target, os.path.normcase(os.path.realpath(path)))  # one key through folder links too
        owner = self.owners.setdefault(key, photo)
        if owner != photo:
            raise InputError(
                f"{path}: also the file of {owner} (photos with the same name stem share it); "
                f"not written for {photo}: rename one of them"
            )

    def _write(self, target: str, photo: str, words: list[str]) -> tuple[Path, bool, list[str], list[str]]:
        """(file, whether it changes, keywords added, keywords removed) for one target."""
        s = self.settings
        if target == "xmp":
            from hashtagger.predict.writers.sidecar import write_sidecar

            path, merged = write_sidecar(
                photo, words, style=s.sidecar_name, replace=s.replace, dry_run=s.dry_run
            )
            return path, merged.changed, merged.added, merged.removed
        if target == "embed":
            from hashtagger.predict.writers.embed import embed_keywords

            merged = embed_keywords(photo, words, replace=s.replace, dry_run=s.dry_run)
            return Path(photo), merged.changed, merged.added, merged.removed
        from hashtagger.predict.writers.captions import write_caption

        path, added = write_caption(photo, words, ext=s.caption_ext, sep=s.caption_sep, dry_run=s.dry_run)
        return path, bool(added), added, []

    def summary(self) -> list[str]:
        """One line per target (and for skipped photos): what was written, or would be."""
        lines = []
        if self.settings.skip_tagged:
            carry = "carries" if self.skipped == 1 else "carry"
            lines.append(f"skipped {plural(self.skipped, 'photo')} that already {carry} keywords")
        verb = "would change" if self.settings.dry_run else "written"
        for t in self.settings.targets:
            changed, same = self.counts[(t, "changed")], self.counts[(t, "unchanged")]
            lines.append(f"{t}: {plural(changed, _NOUNS[t])} {verb}, {same:,} unchanged")
        if self.settings.dry_run and self.settings.targets:
            lines.append("dry run: nothing was written")
        return lines


def _change_text(added: list[str], removed: list[str]) -> str:
    parts = []
    if added:
        parts.append("add " + ", ".join(added))
    if removed:
        parts.append("remove " + ", ".join(removed))
    return "; ".join(parts) or "keyword fields brought in line"
