"""Dataset formats, vocabulary, splits and the summary (hashtagger.data), plus `hashtagger dataset`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_harrison
from PIL import Image

from hashtagger.cli import cli
from hashtagger.data import (
    Dataset,
    Record,
    format_summary,
    load_dataset,
    normalize_tag,
    parse_tags,
    summarize,
)
from hashtagger.data.formats import detect_format
from hashtagger.data.splits import SPLIT_FILE, resolve_test_size
from hashtagger.errors import DatasetError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HARRISON_META = SHARED / "harrison-meta"
CLOTHING = SHARED / "clothing-small" / "labels.csv"


def _jpeg(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 12), colour).save(path, "JPEG")
    return path


ROWS = [
    (f"instagram_dataset/q{i % 3}/image_{i}.jpg", ["sea love", "love", "sun Sea #beach"][i % 3])
    for i in range(30)
]


# ---- tags ----------------------------------------------------------------------------------------


def test_normalize_tag_lowercases_and_strips_hash():
    assert normalize_tag("  #Beach ") == "beach"
    assert normalize_tag("##") == ""


def test_parse_tags_splits_on_space_and_comma_dedupes_in_order():
    assert parse_tags("#Sea, love  sea,#LOVE,,") == ("sea", "love")
    assert parse_tags(["#Dog", "cat dog"]) == ("dog", "cat")
    assert parse_tags(None) == ()


# ---- HARRISON ------------------------------------------------------------------------------------


def test_harrison_lists_load_with_vocab_order_and_seeded_split(tmp_path):
    root = write_harrison(tmp_path / "h", ROWS, vocab=["love", "sea", "sun", "beach"])
    ds = load_dataset(root, seed=3)
    assert ds.format == "harrison" and len(ds.records) == 30
    assert ds.records[2].tags == ("sun", "sea", "beach")
    assert ds.records[0].path == root / "instagram_dataset/q0/image_0.jpg"
    assert ds.splits() == {"train": 24, "validation": 3, "test": 3}  # 10% test, 10% of the rest
    assert ds.vocabulary() == ["love", "sea", "sun", "beach"]  # the file's order, not counts
    assert ds.vocabulary(min_count=1000) == []
    again = load_dataset(root, seed=3)
    assert [r.split for r in again.records] == [r.split for r in ds.records]


def test_harrison_found_in_subfolder_as_the_tar_extracts(tmp_path):
    write_harrison(tmp_path / "HARRISON", ROWS)
    assert detect_format(tmp_path) == ("harrison", tmp_path / "HARRISON")
    assert load_dataset(tmp_path).root == tmp_path / "HARRISON"


def test_harrison_misaligned_lists_is_a_dataset_error(tmp_path):
    root = write_harrison(tmp_path, ROWS)
    (root / "tag_list.txt").write_text("love \n")
    with pytest.raises(DatasetError, match="30 lines but tag_list.txt has 1"):
        load_dataset(root)


def test_harrison_bad_vocab_line_names_file_and_line(tmp_path):
    root = write_harrison(tmp_path, ROWS)
    (root / "vocab_index.txt").write_text("love 0\nsea\n")
    with pytest.raises(DatasetError, match=r"vocab_index.txt:2"):
        load_dataset(root)


def test_empty_tag_lines_are_kept_out_of_splits_but_counted(tmp_path):
    rows = [*ROWS, ("instagram_dataset/q0/empty.jpg", "  "), ("instagram_dataset/q0/hash.jpg", "# ##")]
    ds = load_dataset(write_harrison(tmp_path, rows))
    untagged = [r for r in ds.records if not r.tags]
    assert len(untagged) == 2 and all(r.split is None for r in untagged)
    assert sum(ds.splits().values()) == 30 and len(ds.split("all")) == 30
    assert summarize(ds).untagged == 2


def test_tags_outside_the_vocab_file_are_reported(tmp_path):
    root = write_harrison(tmp_path, ROWS, vocab=["love", "sea", "sun"])
    s = summarize(load_dataset(root))
    assert s.outside_vocabulary == 10 and s.outside_vocabulary_tags == ["beach"]
    assert "beach" not in dict(s.most_frequent) and "beach" not in dict(s.least_frequent)


def test_a_tag_seen_only_outside_training_is_not_also_among_the_most_frequent(tmp_path):
    rows = [f"{i}.jpg,{'dog' if i >= 8 else 'cat'},{'test' if i >= 8 else 'train'}" for i in range(12)]
    (tmp_path / "m.csv").write_text("path,tags,split\n" + "\n".join(rows) + "\n")
    s = summarize(load_dataset(tmp_path / "m.csv"))
    assert s.outside_vocabulary_tags == ["dog"] and s.most_frequent == [("cat", 8)]
    text = format_summary(s)
    assert "outside vocab  4 tag uses (dog, ...; not in the vocabulary" in text
    assert "most frequent  cat 8\n" in text


# ---- splits --------------------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder: where splits are saved."""
    monkeypatch.setenv("HASHTAGGER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _saved_splits(cache: Path) -> list[Path]:
    return sorted((cache / "splits").glob("*.json"))


def test_split_is_saved_in_the_cache_reused_and_redone_when_images_change(tmp_path, cache):
    root = write_harrison(tmp_path / "data", ROWS)
    before = sorted(p.name for p in root.iterdir())
    first = load_dataset(root, seed=1)
    assert sorted(p.name for p in root.iterdir()) == before  # nothing written into the dataset
    (saved_file,) = _saved_splits(cache)
    assert saved_file.name.startswith("harrison-") and str(saved_file) in first.split_info
    saved = json.loads(saved_file.read_text())
    assert saved["seed"] == 1 and saved["sizes"] == {"train": 24, "validation": 3, "test": 3}
    assert saved_file.stat().st_mode & 0o777 == 0o666 & ~_umask()
    other_seed = load_dataset(root, seed=2)  # the saved split wins, with a warning
    assert [r.split for r in other_seed.records] == [r.split for r in first.records]
    assert any("using the saved split" in w for w in other_seed.warnings)
    write_harrison(root, ROWS[:20])  # other photos: another key, a split of their own
    changed = load_dataset(root, seed=1)
    assert len(_saved_splits(cache)) == 2 and changed.splits()["test"] == 2
    assert not any("using the saved split" in w for w in changed.warnings)


def test_a_split_file_an_earlier_version_saved_beside_the_data_is_still_read(tmp_path, cache):
    root = write_harrison(tmp_path, ROWS)
    keys = [rel for rel, _ in ROWS]
    payload = {"format": "hashtagger-split", "seed": 9, "test_size": 1, "val_fraction": 0.0}
    payload |= {"train": keys[1:], "validation": [], "test": keys[:1]}
    (root / SPLIT_FILE).write_text(json.dumps(payload))
    ds = load_dataset(root, seed=9, test_size=1, val_fraction=0.0)
    assert ds.splits() == {"train": 29, "test": 1} and ds.split("test")[0].path.name == Path(keys[0]).name
    assert _saved_splits(cache) == []


def test_read_only_cache_gets_the_same_split_in_memory_and_a_warning(tmp_path, cache):
    root = write_harrison(tmp_path, ROWS)
    writable = load_dataset(root, seed=5)
    for p in _saved_splits(cache):
        p.unlink()
    (cache / "splits").chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        ds = load_dataset(root, seed=5)
    finally:
        (cache / "splits").chmod(0o755)
    assert _saved_splits(cache) == []
    assert any("read-only" in w for w in ds.warnings)
    assert [r.split for r in ds.records] == [r.split for r in writable.records]


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_no_split_file_when_not_asked(tmp_path, cache):
    root = write_harrison(tmp_path, ROWS)
    load_dataset(root, write_split_file=False)
    assert not (root / SPLIT_FILE).exists() and _saved_splits(cache) == []


def test_test_size_forms_and_harrison_default():
    assert resolve_test_size(None, 57_383, harrison=True) == 5000
    assert resolve_test_size(None, 300, harrison=True) == 30
    assert resolve_test_size(0.25, 100) == 25 and resolve_test_size(7, 100) == 7
    for bad in (100, 1.5, -1, True):
        with pytest.raises(DatasetError):
            resolve_test_size(bad, 100)


def test_unknown_split_name_lists_the_splits_present(tmp_path):
    ds = load_dataset(write_harrison(tmp_path, ROWS))
    assert len(ds.split("val")) == len(ds.split("validation")) == 3
    with pytest.raises(DatasetError, match="splits: train, validation, test, all"):
        ds.split("holdout")


# ---- manifests -----------------------------------------------------------------------------------


def test_csv_manifest_with_split_column_and_aliases(tmp_path):
    (tmp_path / "m.csv").write_text(
        'Path,Tags,Split\na.jpg,"#Dog, cat",train\nb.jpg,dog,val\nc.jpg,cat,valid\nd.jpg,,train\n'
    )
    ds = load_dataset(tmp_path / "m.csv")
    assert ds.format == "manifest" and ds.splits() == {"train": 1, "validation": 2}
    assert ds.records[0] == Record(tmp_path / "a.jpg", ("dog", "cat"), "train")
    assert ds.records[3].split is None  # no tags: out of every split
    assert not list(tmp_path.glob("*split.json"))  # the manifest's own split needs no file


def test_tsv_and_jsonl_manifests_get_a_seeded_split(tmp_path, cache):
    (tmp_path / "m.tsv").write_text("file\thashtags\n" + "".join(f"img{i}.jpg\t#a #b\n" for i in range(20)))
    tsv = load_dataset(tmp_path / "m.tsv")
    assert tsv.splits() == {"train": 16, "validation": 2, "test": 2}
    assert not list(tmp_path.glob("*split*")) and len(_saved_splits(cache)) == 1
    lines = [json.dumps({"image": f"x/{i}.png", "tags": ["#Sun", "sea"]}) for i in range(10)]
    (tmp_path / "j.jsonl").write_text("\n".join(lines) + "\n\n")
    js = load_dataset(tmp_path / "j.jsonl", test_size=0)
    assert js.records[0].tags == ("sun", "sea") and "test" not in js.splits()


def test_manifest_rows_naming_one_image_are_merged(tmp_path):
    (tmp_path / "m.csv").write_text("path,tag\na.jpg,dog\na.jpg,cat\nb.jpg,dog\n")
    ds = load_dataset(tmp_path / "m.csv", test_size=0, val_fraction=0)
    assert [r.tags for r in ds.records] == [("dog", "cat"), ("dog",)]
    assert ds.vocabulary() == ["dog", "cat"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("name,tags\na.jpg,dog\n", "needs a path column"),
        ("path,tags,split\na.jpg,dog,holdout\n", "unknown split 'holdout'"),
        ("path,tags,split\na.jpg,dog,train\nb.jpg,cat,\n", "empty split"),
        ("path,tags\na.jpg,dog,extra\n", "m.csv:2: 3 fields"),
        ("path,tags\n", "lists no images"),
    ],
)
def test_bad_manifests_give_one_line_errors_naming_the_file(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(DatasetError, match=message) as e:
        load_dataset(tmp_path / "m.csv")
    assert "m.csv" in str(e.value) and "\n" not in str(e.value)


def test_bad_jsonl_line_is_named(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"path": "a.jpg", "tags": "x"}\n{oops\n')
    with pytest.raises(DatasetError, match=r"m.jsonl:2: not valid JSON"):
        load_dataset(tmp_path / "m.jsonl")


def test_deeply_nested_jsonl_rows_are_named_not_a_recursion_error(tmp_path):
    deep = 100_000
    (tmp_path / "m.jsonl").write_text(
        '{"path": "a.jpg", "tags": "x"}\n{"path": "b.jpg", "tags": ' + "[" * deep + "]" * deep + "}\n"
    )
    with pytest.raises(DatasetError, match=r"m.jsonl:2: refused: nested too deeply for a manifest row"):
        load_dataset(tmp_path / "m.jsonl")
    (tmp_path / "n.jsonl").write_text('{"path": "a.jpg", "tags": ["x", ' + "[" * 500 + "]" * 500 + "]}\n")
    with pytest.raises(DatasetError, match=r"n.jsonl:1: tags must be text or a list of text, got a list hol"):
        load_dataset(tmp_path / "n.jsonl")


def test_a_named_layout_is_checked_and_a_missing_harrison_folder_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError) as e:
        load_dataset(tmp_path / "data" / "HARRISON", layout="harrison")
    assert str(e.value) == (
        f"{tmp_path / 'data' / 'HARRISON'}: no such file or folder; "
        "get HARRISON with: hashtagger download harrison --dir DIR"
    )
    with pytest.raises(DatasetError, match=r"no such file or folder$"):
        load_dataset(tmp_path / "mine.csv")  # auto: nothing says this was meant to be HARRISON
    (tmp_path / "m.csv").write_text("path,tags\na.jpg,dog\n")
    with pytest.raises(DatasetError, match=r"m.csv: data.format is harrison, but this is a manifest dataset"):
        load_dataset(tmp_path / "m.csv", layout="harrison")


# ---- folder per tag ------------------------------------------------------------------------------


def test_folder_per_tag_and_split_folders(tmp_path):
    for i in range(10):
        _jpeg(tmp_path / "flat" / ("Cat" if i % 2 else "dog") / f"{i}.jpg")
    (tmp_path / "flat" / "dog" / "notes.txt").write_text("not an image")
    flat = load_dataset(tmp_path / "flat", test_size=2, val_fraction=0)
    assert flat.format == "folder" and flat.splits() == {"train": 8, "test": 2}
    assert flat.tag_counts("all") == {"cat": 5, "dog": 5}
    for split in ("train", "val"):
        _jpeg(tmp_path / "split" / split / "hat" / "a.jpg")
    ds = load_dataset(tmp_path / "split")
    assert ds.splits() == {"train": 1, "validation": 1}
    assert not (tmp_path / "split" / SPLIT_FILE).exists()


def test_folder_per_tag_follows_linked_folders_once_like_predict(tmp_path):
    for name in ("D/dog/a.jpg", "D/dog/sub/b.jpg", "D/cat/d.jpg", "elsewhere/c.jpg"):
        _jpeg(tmp_path / name)
    os.symlink("../../elsewhere", tmp_path / "D" / "dog" / "more")  # a linked folder: followed
    os.symlink("..", tmp_path / "D" / "dog" / "sub" / "back")  # a loop back up: entered once
    ds = load_dataset(tmp_path / "D", test_size=1, val_fraction=0, write_split_file=False)
    found = {r.path.relative_to(tmp_path / "D").as_posix(): r.tags for r in ds.records}
    assert found == {
        "cat/d.jpg": ("cat",),
        "dog/a.jpg": ("dog",),
        "dog/more/c.jpg": ("dog",),
        "dog/sub/b.jpg": ("dog",),
    }


def test_vocabulary_is_frequency_ordered_over_train_only_with_alphabetical_ties(tmp_path):
    records = [
        Record(tmp_path / "1.jpg", ("b", "a"), "train"),
        Record(tmp_path / "2.jpg", ("c", "b"), "train"),
        Record(tmp_path / "3.jpg", ("z", "z2"), "test"),
    ]
    ds = Dataset("t", tmp_path, "manifest", records)
    assert ds.vocabulary() == ["b", "a", "c"]
    assert ds.vocabulary(min_count=2) == ["b"]
    assert ds.tag_counts("test") == {"z": 1, "z2": 1}


def test_not_a_dataset_names_the_path_and_the_layouts(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DatasetError, match="HARRISON folder.*manifest.*one subfolder of images per tag"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "nope")


# ---- summary and CLI -----------------------------------------------------------------------------


def test_summary_counts_missing_and_unreadable_files(tmp_path):
    root = write_harrison(tmp_path, ROWS[:6])
    for rel, _ in ROWS[:4]:
        _jpeg(root / rel)
    truncated = root / ROWS[0][0]
    truncated.write_bytes(truncated.read_bytes()[:-40])  # a few bytes short, like HARRISON_fixed.zip's
    s = summarize(load_dataset(root), check_images=True)
    assert s.missing == 2 and s.missing_examples == [ROWS[4][0], ROWS[5][0]]
    assert s.unreadable == 1 and s.unreadable_examples[0].startswith(ROWS[0][0] + ": truncated")
    assert summarize(load_dataset(root)).unreadable is None  # decoding is opt-in


def test_dataset_command_text_json_and_errors(tmp_path, cache):
    root = write_harrison(tmp_path, ROWS)
    runner = CliRunner()
    text = runner.invoke(cli, ["dataset", str(root)])
    assert text.exit_code == 0, text.output
    assert "missing files  30 of 30 (100.0%), e.g." in text.output and "mean 2.00" in text.output
    assert not (root / SPLIT_FILE).exists() and _saved_splits(cache) == []  # a summary writes nothing
    js = runner.invoke(cli, ["dataset", str(root), "--format", "json", "--quiet"])
    data = json.loads(js.stdout)
    assert data["images"] == 30 and data["most_frequent"] == {"love": 20, "sea": 20, "beach": 10, "sun": 10}
    bad = runner.invoke(cli, ["dataset", str(tmp_path / "missing")])
    assert bad.exit_code == 1 and "no such file or folder" in bad.output and "Traceback" not in bad.output


# ---- the real files in ../shared (skipped on a fresh clone) ---------------------------------------


@pytest.mark.skipif(not HARRISON_META.is_dir(), reason="../shared/data/harrison-meta not present")
def test_real_harrison_lists():
    before = sorted(os.listdir(HARRISON_META))
    ds = load_dataset(HARRISON_META, write_split_file=False)  # reads only: nothing written anywhere
    s = summarize(ds)
    assert s.images == 57_383 and s.vocabulary_size == 997 and s.tags_per_image["mean"] == 4.54
    assert ds.splits() == {"train": 47_145, "validation": 5_238, "test": 5_000}
    assert s.missing == 57_383 and s.most_frequent[0] == ("love", 5_892) and s.outside_vocabulary == 0
    assert sorted(os.listdir(HARRISON_META)) == before  # nothing written into shared data


@pytest.mark.skipif(not CLOTHING.is_file(), reason="../shared/data/clothing-small not present")
def test_real_clothing_manifest():
    ds = load_dataset(CLOTHING)
    assert ds.splits() == {"train": 3_068, "validation": 341}
    assert len(ds.vocabulary()) == 10 and summarize(ds).missing == 0
