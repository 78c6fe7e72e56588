"""WordNet 3.0 from Debian's `wordnet-base`, read with NLTK's maintained reader.

NLTK's `WordNetCorpusReader` expects a `lexnames` file that the Princeton distribution ships but
Debian does not (it only has the lexnames(5WN) man page). The 45 lines are fixed for WordNet 3.0,
so they live here and the reader serves them from memory: no copy of the database, no temp folder.

Only needed for HierSE on a custom vocabulary and for scripts/build_hierse_resources.py; the
built-in `hierse` model ships its embeddings precomputed.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hashtagger.errors import MissingDependencyError

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

WORDNET_ENV = "HASHTAGGER_WORDNET"
DEFAULT_DIRS = ("/usr/share/wordnet",)
INSTALL_HINT = f"apt-get install wordnet-base, or set {WORDNET_ENV} to a WordNet 3.0 dict folder"

# lexnames(5WN), WordNet 3.0: file number, lexicographer file, syntactic category
# (1 noun, 2 verb, 3 adjective, 4 adverb). NLTK checks that line i holds number i.
LEXNAMES: tuple[str, ...] = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_REQUIRED = ("data.noun", "index.noun", "noun.exc")


def lexnames_text() -> str:
    """The `lexnames` file NLTK wants, tab-separated as in lexnames(5WN)."""
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))


def find_wordnet_dir() -> Path | None:
    """$HASHTAGGER_WORDNET if set (even when wrong: a typo must not pass silently), else Debian's folder."""
    env = os.environ.get(WORDNET_ENV)
    candidates = [Path(env).expanduser()] if env else [Path(d) for d in DEFAULT_DIRS]
    for d in candidates:
        if all((d / f).is_file() for f in _REQUIRED):
            return d
    return None


def _import_reader() -> type:
    try:
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
    except ImportError:
        raise MissingDependencyError("WordNet support needs NLTK: pip install 'hashtagger[hierse]'") from None
    return WordNetCorpusReader


@lru_cache(maxsize=4)
def _load(root: str) -> WordNetCorpusReader:
    import warnings

    import nltk.data

    base = _import_reader()

    class _Reader(base):  # type: ignore[misc, valid-type]
        """Serves `lexnames` from memory when the folder has none (Debian); English only."""

        def open(self, file: str) -> Any:  # noqa: A003 - NLTK's name
            if file == "lexnames" and not (Path(root) / "lexnames").is_file():
                return io.StringIO(lexnames_text())
            return super().open(file)

        def map_wn(self, version: str = "wordnet") -> None:
            # NLTK maps offsets to its own downloaded 'wordnet' corpus for the multilingual (OMW)
            # data; we read WordNet 3.0 itself and no OMW, so there is nothing to map (and no
            # downloaded corpus to map to).
            return None

    # NLTK >= 3.9 only opens files below its data path; add the WordNet folder (read-only data) to it.
    if root not in [str(p) for p in nltk.data.path]:
        nltk.data.path.append(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": we need English only
        return _Reader(root, None)


def load_wordnet() -> WordNetCorpusReader:
    """An NLTK WordNet reader on the local WordNet 3.0 files; MissingDependencyError says what to install."""
    _import_reader()
    root = find_wordnet_dir()
    if root is None:
        where = os.environ.get(WORDNET_ENV) or ", ".join(DEFAULT_DIRS)
        raise MissingDependencyError(f"WordNet 3.0 not found in {where}: {INSTALL_HINT}")
    try:
        return _load(str(root.resolve()))
    except (OSError, ValueError) as e:
        raise MissingDependencyError(f"cannot read WordNet in {root} ({e}): {INSTALL_HINT}") from None
