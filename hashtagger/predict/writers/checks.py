"""predict's writer options checked once, before the model loads: a bad value is a usage error.

Tags from `--always` and `--rename` (and their @files) end up in XML sidecars, IPTC fields, caption
files and UTF-8 output, so they must be text all of those can hold: not empty, no control
characters, no undecodable bytes (which arrive as lone surrogates), and, when caption files are
written, not the caption separator (the file would read it back as two tags and grow on every run).
`--caption-ext` must be a plain extension that is not a photo's or a sidecar's, so a caption file
can never land on a photo, a sidecar or outside the photo's folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from hashtagger.errors import InputError
from hashtagger.predict.filters import expand_values
from hashtagger.predict.keywords import keyword
from hashtagger.predict.writers.settings import WriterSettings

#: Control characters (C0, DEL, C1) and the two non-characters XML refuses.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_EXTENSION = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9_-]{0,15}")
#: Sidecars of photo tools: XMP, RawTherapee, DxO, Apple Photos, ON1, and plain XML.
SIDECAR_EXTENSIONS = frozenset({".xmp", ".xml", ".pp3", ".dop", ".aae", ".on1"})


def checked_settings(settings: WriterSettings) -> WriterSettings:
    """The settings with every @file expanded and every tag checked; InputError names the bad value."""
    always = tuple(check_tag(t, "--always") for t in expand_values(settings.always, "--always"))
    rename = tuple(_check_rename(item) for item in expand_values(settings.rename, "--rename"))
    ext = check_caption_ext(settings.caption_ext)
    if "txt" in settings.targets:
        news = [(t, "--always") for t in always] + [(r.partition("=")[2], "--rename") for r in rename]
        _check_separator(news, settings.caption_sep)
    exclude = tuple(expand_values(settings.exclude, "--exclude"))
    return replace(settings, always=always, rename=rename, exclude=exclude, caption_ext=ext)


def check_tag(raw: str, option: str) -> str:
    """The tag as given, when it can be written everywhere; InputError saying why not."""
    tag = keyword(raw)
    if not tag:
        raise InputError(f"{option} {raw!r}: empty tag")
    if _SURROGATE.search(tag):
        raise InputError(f"{option} {raw!r}: not valid UTF-8 text (it holds an undecodable byte)")
    if _CONTROL.search(tag):
        raise InputError(f"{option} {raw!r}: holds a control character")
    return raw


def _check_rename(item: str) -> str:
    old, sep, new = item.partition("=")
    if not sep or not keyword(old) or not keyword(new):
        raise InputError(f"--rename {item!r}: expected OLD=NEW")
    check_tag(old, "--rename")
    check_tag(new, "--rename")
    return item


def _check_separator(tags: Iterable[tuple[str, str]], sep: str) -> None:
    token = sep.strip()
    for tag, option in tags:
        if token and token in tag or not token and len(keyword(tag).split()) > 1:
            shown = repr(token) if token else "a space"
            raise InputError(
                f"{option} {tag!r}: holds the caption separator {shown} (--caption-sep), so the caption "
                "file would read it back as several tags"
            )


def check_caption_ext(value: str) -> str:
    """`.txt` for `txt` or `.txt`; InputError for anything else than one plain extension of a text file."""
    ext = value if value.startswith(".") else "." + value
    if not _EXTENSION.fullmatch(ext):
        raise InputError(f"--caption-ext {value!r}: expected a plain extension such as .txt or .caption")
    if ext.lower() == ".txt":
        return ext
    from hashtagger.image.load import IMAGE_EXTENSIONS, PHOTO_EXTENSIONS

    if ext.lower() in IMAGE_EXTENSIONS | PHOTO_EXTENSIONS | SIDECAR_EXTENSIONS:
        raise InputError(
            f"--caption-ext {value!r}: the extension of photos or sidecars; caption files would be "
            "written into them"
        )
    return ext
