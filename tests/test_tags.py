"""`hashtagger tags`: what a model can say, searchable, with HARRISON's post counts."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from hashtagger.cli import cli


def test_tags_search_finds_everyday_words_and_counts_harrison_ones() -> None:
    r = CliRunner().invoke(cli, ["tags", "--search", "#Hors"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["#horse\t-"]  # an everyday tag: no social statistics
    r = CliRunner().invoke(cli, ["tags", "-s", "love", "-f", "json"])
    rows = json.loads(r.stdout)
    assert {"tag": "love", "posts": 5892} in rows and all("love" in x["tag"] for x in rows)


def test_tags_lists_the_whole_default_vocabulary_and_fails_a_search_that_finds_nothing() -> None:
    r = CliRunner().invoke(cli, ["tags"])
    lines = r.stdout.splitlines()
    assert r.exit_code == 0 and lines[0] == "#love\t5892" and len(lines) > 1000
    assert {"#galaxy\t-", "#giraffe\t-", "#painting\t168"} <= set(lines)
    miss = CliRunner().invoke(cli, ["tags", "--search", "zzzz"])
    assert miss.exit_code == 1 and miss.stdout == "" and "0 of" in miss.stderr


def test_tags_of_a_custom_vocabulary(tmp_path: Path) -> None:
    f = tmp_path / "v.txt"
    f.write_text("dog\nmy_trip\n")
    r = CliRunner().invoke(cli, ["tags", "--vocab", str(f)])
    dog_posts = dict(line.split("\t") for line in CliRunner().invoke(cli, ["tags"]).stdout.splitlines())[
        "#dog"
    ]
    assert int(dog_posts) > 0
    assert r.stdout.splitlines() == [f"#dog\t{dog_posts}", "#my_trip\t-"]
