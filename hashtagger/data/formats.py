"""Dataset formats (HARRISON lists, manifests, folder per tag), format detection and load_dataset.

Every reader yields entries (relative path, tags, split or None); load_dataset merges them,
assigns splits and returns a Dataset. Readers only read text and list folders: whether
the images exist or decode is the summary's business, so loading 57k records stays fast.
"""

from __future__ import annotations

import csv
import json
import os
import reprlib
from dataclasses import dataclass, field
from pathlib import Path

from hashtagger.choices import DATA_FORMATS
from hashtagger.data.records import SPLIT_ALIASES, Dataset, Record, normalize_split, normalize_tag, parse_tags
from hashtagger.data.splits import SPLIT_FILE, load_or_make_split, resolve_test_size, split_cache_file
from hashtagger.errors import DatasetError
from hashtagger.image.load import is_image_path
from hashtagger.image.walk import walk_files

FORMATS = DATA_FORMATS
HARRISON_LISTS = ("data_list.txt", "tag_list.txt")
HARRISON_VOCAB = "vocab_index.txt"
MANIFEST_SUFFIXES = (".csv", ".tsv", ".jsonl")
PATH_COLUMNS = ("path", "image", "file", "filename", "file_name", "image_path", "filepath")
TAG_COLUMNS = ("tags", "tag", "hashtags", "hashtag", "labels", "label")
SPLIT_COLUMNS = ("split", "subset")
LAYOUTS = (
    "a HARRISON folder (data_list.txt + tag_list.txt, or a HARRISON/ subfolder holding them), "
    "a manifest (.csv, .tsv or .jsonl with path and tags columns), "
    "or a folder with one subfolder of images per tag"
)


@dataclass
class Source:
    """What a reader found, before splits are assigned."""

    name: str
    root: Path
    format: str
    entries: dict[str, tuple[tuple[str, ...], str | None]]  # relative path -> (tags, split)
    split_file: Path
    has_splits: bool = False
    split_info: str = ""
    vocab_file: list[str] | None = None
    vocab_source: str = "train split"
    warnings: list[str] = field(default_factory=list)

    def add(self, key: str, tags: tuple[str, ...], split: str | None, where: str) -> None:
        """Add one entry; rows naming the same image are merged (tags united) unless splits clash."""
        if key in self.entries:
            old_tags, old_split = self.entries[key]
            if old_split != split:
                raise DatasetError(f"{where}: {key} listed again with split {split!r} (was {old_split!r})")
            tags = tuple(dict.fromkeys(old_tags + tags))
        self.entries[key] = (tags, split)


def detect_format(path: Path, layout: str = "auto") -> tuple[str, Path]:
    """Return ('harrison' | 'manifest' | 'folder', the list folder, manifest file or image root).

    `layout` (a config's data.format) other than auto must be what the files are: a missing
    HARRISON folder then points to its download, another layout is refused in one line.
    """
    if not path.exists():
        hint = "; get HARRISON with: hashtagger download harrison --dir DIR" if layout == "harrison" else ""
        raise DatasetError(f"{path}: no such file or folder{hint}")
    fmt, where = _detect(path)
    if layout not in ("auto", fmt):
        raise DatasetError(f"{path}: data.format is {layout}, but this is a {fmt} dataset")
    return fmt, where


def _detect(path: Path) -> tuple[str, Path]:
    if path.is_file():
        if path.suffix.lower() in MANIFEST_SUFFIXES:
            return "manifest", path
        raise DatasetError(f"{path}: not a dataset: expected {LAYOUTS}")
    for folder in (path, path / "HARRISON"):
        if all((folder / name).is_file() for name in HARRISON_LISTS):
            return "harrison", folder
    try:
        entries = sorted(p for p in path.iterdir() if _visible(p))
    except OSError as e:
        raise DatasetError(f"{path}: cannot list the folder ({e.strerror or e})") from None
    manifests = [p for p in entries if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES]
    if len(manifests) == 1:
        return "manifest", manifests[0]
    if len(manifests) > 1:
        names = ", ".join(p.name for p in manifests[:5])
        raise DatasetError(f"{path}: holds several manifests ({names}); give the one to use")
    if any(p.is_dir() for p in entries):
        return "folder", path
    raise DatasetError(f"{path}: not a dataset: expected {LAYOUTS}")


def read_harrison(root: Path) -> Source:
    """Read HARRISON's aligned data_list.txt / tag_list.txt and its vocab_index.txt if present."""
    paths = read_lines(root / HARRISON_LISTS[0])
    tag_lines = read_lines(root / HARRISON_LISTS[1])
    if len(paths) != len(tag_lines):
        raise DatasetError(
            f"{root}: data_list.txt has {len(paths):,} lines but tag_list.txt has {len(tag_lines):,}; "
            "they must be aligned line by line"
        )
    src = Source("harrison", root, "harrison", {}, root / SPLIT_FILE)
    for n, (rel, tags) in enumerate(zip(paths, tag_lines, strict=True), 1):
        rel = rel.strip()
        if not rel:
            raise DatasetError(f"{root / HARRISON_LISTS[0]}:{n}: empty image path")
        src.add(rel, parse_tags(tags), None, f"{root / HARRISON_LISTS[0]}:{n}")
    if (root / HARRISON_VOCAB).is_file():
        src.vocab_file = read_vocab_index(root / HARRISON_VOCAB)
        src.vocab_source = HARRISON_VOCAB
    return src


def read_manifest(path: Path) -> Source:
    """Read a CSV/TSV/JSONL manifest: a path column (relative to the manifest), tags, optional split."""
    root = path.parent
    name = root.name if path.stem.lower() in ("labels", "manifest", "tags", "data") else path.stem
    src = Source(name or path.stem, root, "manifest", {}, root / f"{path.stem}.{SPLIT_FILE}")
    rows = _jsonl_rows(path) if path.suffix.lower() == ".jsonl" else _table_rows(path)
    split_seen = False
    for where, row in rows:
        rel = _field(row, PATH_COLUMNS)
        if rel is None or isinstance(rel, str) and not rel.strip():
            raise DatasetError(
                f"{where}: no image path (give a column named {' or '.join(PATH_COLUMNS[:3])})"
            )
        tags = _field(row, TAG_COLUMNS)
        if tags is None and not any(k in row for k in TAG_COLUMNS):
            raise DatasetError(f"{where}: no tags column (name it {' or '.join(TAG_COLUMNS[:4])})")
        if not isinstance(tags, (str, list, type(None))) or (
            isinstance(tags, list) and not all(isinstance(t, (str, int, float)) for t in tags)
        ):
            raise DatasetError(f"{where}: tags must be text or a list of text, got {_brief(tags)}")
        split_text = str(_field(row, SPLIT_COLUMNS) or "").strip()
        split = normalize_split(split_text, where) if split_text else None
        split_seen = split_seen or split is not None
        src.add(str(rel).strip(), parse_tags(tags), split, where)
    if not src.entries:
        raise DatasetError(f"{path}: the manifest lists no images")
    if split_seen:
        unsplit = [k for k, (_, s) in src.entries.items() if s is None]
        if unsplit:
            raise DatasetError(
                f"{path}: {len(unsplit):,} rows have an empty split (e.g. {unsplit[0]}); "
                "fill the split column on every row or remove it"
            )
        src.has_splits = True
        src.split_info = f"split column of {path.name}"
    return src


def read_folder(root: Path) -> Source:
    """Read a folder per tag (one tag per image); top folders named train/val/test give the split."""
    src = Source(root.name, root, "folder", {}, root / SPLIT_FILE)
    tops = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    by_split = bool(tops) and all(p.name.lower() in SPLIT_ALIASES for p in tops)
    groups = [(normalize_split(p.name), p) for p in tops] if by_split else [(None, root)]
    for split, base in groups:
        for tag_dir in sorted(p for p in base.iterdir() if p.is_dir() and _visible(p)):
            tag = normalize_tag(tag_dir.name)
            # predict's walker: linked folders are followed, each real one entered once (no loops)
            for path in walk_files(str(tag_dir), _is_image_name, enter=lambda name: _visible(Path(name))):
                if isinstance(path, str):  # an unlistable subfolder is skipped, as before
                    rel = Path(path).relative_to(root).as_posix()
                    src.add(rel, (tag,) if tag else (), split, str(root))
    if not src.entries:
        raise DatasetError(f"{root}: no images in its subfolders: expected {LAYOUTS}")
    if by_split:
        src.has_splits = True
        src.split_info = "split folders (" + ", ".join(p.name for p in tops) + ")"
    return src


def load_dataset(
    path: str | Path,
    *,
    layout: str = "auto",
    seed: int = 0,
    val_fraction: float = 0.1,
    test_size: int | float | None = None,
    write_split_file: bool = True,
) -> Dataset:
    """Read any supported dataset and assign train/validation/test splits.

    A split the data carries (manifest split column, train/val/test folders) is used as is.
    Otherwise a seeded split (HARRISON: the paper's 5,000 test images; others: 10%, with
    val_fraction of the rest as validation) is saved in the user's cache (never in the dataset
    folder, see hashtagger.data.splits) and reused while it covers the same images; an unwritable
    cache gets the same split in memory and a warning.
    Images with no tags get split None: counted by the summary, never trained or scored on.
    `layout` (auto, or one of FORMATS) is checked against the files (see detect_format).
    """
    fmt, where = detect_format(Path(path).expanduser(), layout)
    reader = {"harrison": read_harrison, "manifest": read_manifest, "folder": read_folder}[fmt]
    src = reader(where)
    root = Path(os.path.abspath(src.root))
    tagged = [k for k, (tags, _) in src.entries.items() if tags]
    if src.has_splits:
        assignment = {k: src.entries[k][1] for k in tagged}
        info = src.split_info
    else:
        count = resolve_test_size(test_size, len(tagged), harrison=fmt == "harrison")
        assignment, info = load_or_make_split(
            tagged,
            split_cache_file(src.name, fmt, root, tagged),
            legacy_file=src.split_file,
            seed=seed,
            test_count=count,
            val_fraction=val_fraction,
            write=write_split_file,
            warnings=src.warnings,
        )
    records = [
        Record(Path(os.path.normpath(root / key)), tags, assignment.get(key) if tags else None)
        for key, (tags, _) in src.entries.items()
    ]
    return Dataset(
        name=src.name,
        root=root,
        format=fmt,
        records=records,
        vocab_file=src.vocab_file,
        vocab_source=src.vocab_source,
        split_info=info,
        warnings=src.warnings,
    )


def data_folders(path: str | Path) -> list[Path]:
    """The folders a dataset lives in (links resolved): the folder given, its root, and, for a manifest,
    every folder holding a listed photo. Nothing is ever written into them (train's `out`, say)."""
    given = Path(path).expanduser()
    fmt, where = detect_format(given)
    root = where.parent if fmt == "manifest" else where
    folders = {os.path.realpath(root)}
    if given.is_dir():
        folders.add(os.path.realpath(given))
    if fmt == "manifest":
        parents = {os.path.dirname(os.path.normpath(root / key)) for key in read_manifest(where).entries}
        folders.update(os.path.realpath(p) for p in parents)
    return sorted(Path(f) for f in folders)


def _is_image_name(name: str) -> bool:
    return is_image_path(Path(name))


def _visible(p: Path) -> bool:
    """Hidden entries and archive debris (.DS_Store, __MACOSX) are never data."""
    return not p.name.startswith(".") and p.name != "__MACOSX"


def read_lines(path: Path) -> list[str]:
    """Lines of a text list, trailing blank lines dropped (files end with a newline)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _brief(value: object) -> str:
    """A value's type and start, for an error message (never the whole of a huge or deep value)."""
    if isinstance(value, list):
        bad = next(v for v in value if not isinstance(v, (str, int, float)))
        return f"a list holding a {type(bad).__name__}"
    return reprlib.repr(value)[:60]


def _field(row: dict, names: tuple[str, ...]) -> object:
    for name in names:
        if name in row:
            return row[name]
    return None


def _table_rows(path: Path):
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{path}: empty manifest")
            columns = [h.strip().lower() for h in header]
            if not any(c in PATH_COLUMNS for c in columns) or not any(c in TAG_COLUMNS for c in columns):
                raise DatasetError(
                    f"{path}: header {header} needs a path column ({', '.join(PATH_COLUMNS[:3])}) "
                    f"and a tags column ({', '.join(TAG_COLUMNS[:4])})"
                )
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(columns):
                    raise DatasetError(
                        f"{path}:{reader.line_num}: {len(values)} fields, the header has {len(columns)}"
                    )
                yield f"{path}:{reader.line_num}", dict(zip(columns, values, strict=True))
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except csv.Error as e:
        raise DatasetError(f"{path}: malformed {delimiter!r}-separated file ({e})") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None


def _jsonl_rows(path: Path):
    for n, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        except RecursionError:
            raise DatasetError(f"{path}:{n}: refused: nested too deeply for a manifest row") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{path}:{n}: expected a JSON object per line")
        yield f"{path}:{n}", {str(k).strip().lower(): v for k, v in row.items()}


def read_vocab_index(path: Path) -> list[str]:
    """Read HARRISON's vocab_index.txt ('<word><spaces><rank>', rank 0 first) in rank order."""
    ranked: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read vocabulary ({e})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise DatasetError(f"{path}:{n}: expected '<tag> <rank>', got {line.strip()!r}")
        tag = normalize_tag(parts[0])
        if tag in seen:
            raise DatasetError(f"{path}:{n}: tag {tag!r} listed twice (first on line {seen[tag]})")
        seen[tag] = n
        ranked.append((int(parts[1]), tag))
    if not ranked:
        raise DatasetError(f"{path}: empty vocabulary file")
    ranked.sort()
    return [t for _, t in ranked]
