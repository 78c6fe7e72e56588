"""The README is a front door that stays true: short, every relative link resolves, every command and option
it shows exists, the code map names every module, and the test command is there verbatim.

Each check is a function that returns what it found wrong, so the tests below run it on the real pages and on
a small broken sample: a check that could never fail would keep nothing true."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click

from hashtagger.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
TEST_COMMAND = "pip install -e '.[test]' && pytest"  # .ci/run runs exactly this line
MAX_README_LINES = 450

LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)\s*(\w*)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


# ---- pages: prose, code blocks, headings ---------------------------------------------------------


def prose(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks: a `# comment` in a block is no heading, a `](x)` no link."""
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield line


def code_blocks(text: str) -> Iterator[tuple[str, str]]:
    """Each fenced block as (language, body)."""
    language, body = None, []
    for line in text.splitlines():
        match = FENCE.match(line)
        if match and language is None:
            language, body = match.group(2), []
        elif match:
            yield language, "\n".join(body)
            language = None
        elif language is not None:
            body.append(line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text as shown (link targets, `*` and backticks dropped), lower case,
    punctuation other than '-' and '_' dropped, each space a '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor; a repeated heading gets '-1', '-2', ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(text):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[str]:
    """The relative link targets in a page's prose (web addresses and mail are not checked here)."""
    return [m for line in prose(text) for m in LINK.findall(line) if not re.match(r"[a-z]+:", m)]


def broken_links(page: Path) -> list[str]:
    """Relative links whose file does not exist, or whose `#anchor` names no heading of that page."""
    broken = []
    for target in links(page.read_text()):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{page.name}: {target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            broken.append(f"{page.name}: {target}: no such heading")
    return broken


# ---- commands in code blocks ---------------------------------------------------------------------

SEPARATORS = {"|", "||", "&", "&&", ";", "(", ")", "$("}
REDIRECTS = {"<", ">", ">>", ">&", "<<", "&>"}


def shell_lines(language: str, body: str) -> Iterator[str]:
    """The command lines of a block: every line of a bash block, the `$ ` lines of any other block."""
    body = body.replace("\\\n", " ")
    for line in body.splitlines():
        if line.startswith("$ "):
            yield line[2:]
        elif language in ("bash", "sh", "shell", "console"):
            yield line


def hashtagger_commands(text: str) -> Iterator[list[str]]:
    """The words after `hashtagger` (or `-m hashtagger`) of each command in a page's code blocks, split as a
    shell would: comments, pipes, `&&`, redirections and `VAR=value` prefixes left out. A line whose quoting
    cannot be parsed is skipped."""
    for language, body in code_blocks(text):
        for line in shell_lines(language, body):
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            try:
                tokens = list(lexer)
            except ValueError:
                continue
            yield from _split_commands(tokens)


def _split_commands(tokens: list[str]) -> Iterator[list[str]]:
    command: list[str] = []
    skip_next = False
    for token in [*tokens, ";"]:
        if skip_next:
            skip_next = False
        elif token in REDIRECTS or re.fullmatch(r"\d?[<>]+&?", token):
            skip_next = True
        elif token in SEPARATORS or token.startswith("$("):
            start = next((i for i, w in enumerate(command) if w == "hashtagger"), None)
            if start is not None and (start == 0 or command[start - 1] == "-m"):
                yield command[start + 1 :]
            command = []
        else:
            command.append(token)


def command_problems(words: list[str]) -> list[str]:
    """What Click would refuse in `hashtagger WORDS`: an unknown command, an option the command does not
    take, or a value outside an option's choices."""
    if not words or words[0].startswith("-"):
        return []
    command = cli.commands.get(words[0])
    if command is None:
        return [f"hashtagger {words[0]}: no such command"]
    params = {o: p for p in command.get_params(click.Context(command)) for o in p.opts + p.secondary_opts}
    problems, rest = [], iter(words[1:])
    for word in rest:
        if not word.startswith("-") or word == "-" or re.fullmatch(r"-\d.*", word):
            continue
        name, has_value, value = word.partition("=")
        param = params.get(name)
        if not isinstance(param, click.Option):
            problems.append(f"hashtagger {words[0]} {name}: no such option")
            continue
        if param.is_flag or param.count:
            continue
        value = value if has_value else next(rest, "")
        choices = getattr(param.type, "choices", None)
        if choices is not None and value not in choices:
            allowed = ", ".join(map(str, choices))
            problems.append(f"hashtagger {words[0]} {name} {value}: not one of {allowed}")
    return problems


# ---- the code map --------------------------------------------------------------------------------

MAP_FOLDER = re.compile(r"^\*\*`(hashtagger/(?:[\w]+/)*)`\*\*")
MAP_ENTRY = re.compile(r"^- `[\w.]+\.py`(?:, `[\w.]+\.py`)*: \S")
# The modules an entry describes (`a.py`: ...; `b.py`, `c.py`: ...), not those its text merely names.
MAP_MODULE = re.compile(r"(?:^- |; |, )`([\w.]+\.py)`(?=[:,])")


def code_map_problems(readme: str, root: Path) -> list[str]:
    """The code map lists every folder of the package, and under each folder every module in it (one bullet
    line each, `name.py`: what it holds); nothing listed is missing on disk, no bullet is a broken row."""
    section = readme.split("\n## Code map", 1)[1].split("\n## ", 1)[0]
    listed: dict[str, set[str]] = {}
    folder = None
    problems = []
    for line in section.splitlines():
        heading = MAP_FOLDER.match(line)
        if heading:
            folder = heading.group(1)
            listed.setdefault(folder, set())
        elif line.startswith("- "):
            if folder is None or not MAP_ENTRY.match(line):
                problems.append(f"code map: a broken row: {line}")
                continue
            listed[folder] |= set(MAP_MODULE.findall(line))
    on_disk: dict[str, set[str]] = {}
    for path in sorted((root / "hashtagger").rglob("*.py")):
        folder_name = path.parent.relative_to(root).as_posix() + "/"
        on_disk.setdefault(folder_name, set()).add(path.name)
    for folder_name in sorted(on_disk.keys() - listed.keys()):
        problems.append(f"code map: folder {folder_name} is not listed")
    for folder_name in sorted(listed.keys() - on_disk.keys()):
        problems.append(f"code map: folder {folder_name} does not exist")
    for folder_name in sorted(on_disk.keys() & listed.keys()):
        missing = on_disk[folder_name] - listed[folder_name] - {"__init__.py"}
        stale = listed[folder_name] - on_disk[folder_name]
        problems += [f"code map: {folder_name}{name} is not listed" for name in sorted(missing)]
        problems += [f"code map: {folder_name}{name} does not exist" for name in sorted(stale)]
    return problems


# ---- the front door ------------------------------------------------------------------------------


def front_door_problems(readme: str) -> list[str]:
    """Short, a table of contents before the quick start, and the test command in a `bash` block of a
    section about tests."""
    problems = []
    if len(readme.splitlines()) > MAX_README_LINES:
        problems.append(f"README has {len(readme.splitlines())} lines, more than {MAX_README_LINES}")
    if "**Contents:**" not in readme.split("## Quick start")[0]:
        problems.append("no **Contents:** line before '## Quick start'")
    sections = re.split(r"\n## ", readme)
    if not any(
        "test" in section.split("\n", 1)[0].lower()
        and any(lang == "bash" and TEST_COMMAND in body.splitlines() for lang, body in code_blocks(section))
        for section in sections
    ):
        problems.append(f"no line {TEST_COMMAND!r} in a bash block of a section about tests")
    return problems


# ---- the real pages ------------------------------------------------------------------------------


def test_every_relative_link_resolves() -> None:
    assert [problem for page in PAGES for problem in broken_links(page)] == []


def test_every_command_and_option_shown_exists() -> None:
    readme_commands = list(hashtagger_commands(README.read_text()))
    assert len(readme_commands) >= 15  # the parser still finds the README's commands
    every = [words for page in PAGES for words in hashtagger_commands(page.read_text())]
    assert [problem for words in every for problem in command_problems(words)] == []


def test_the_code_map_names_every_folder_and_module() -> None:
    assert code_map_problems(README.read_text(), ROOT) == []


def test_readme_is_a_front_door() -> None:
    assert front_door_problems(README.read_text()) == []


def test_every_reference_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(README.read_text())}
    assert [page.name for page in PAGES[1:] if page.resolve() not in linked] == []


# ---- each check can fail -------------------------------------------------------------------------


def test_the_link_check_finds_missing_files_and_headings(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n## Your own habits: `--profile`\n")
    page = tmp_path / "p.md"
    page.write_text(
        "# Title\n## Title\n```\n# not a heading\n[x](in-code.md)\n```\n"
        "[a](missing.md) [b](#title) [b1](#title-1) [c](#nowhere) [d](#not-a-heading)\n"
        "[e](other.md#your-own-habits---profile) [f](other.md#gone) [g](https://example.org/x)\n"
    )
    assert broken_links(page) == [
        "p.md: missing.md: no such file",
        "p.md: #nowhere: no such heading",
        "p.md: #not-a-heading: no such heading",
        "p.md: other.md#gone: no such heading",
    ]


def test_the_command_check_finds_unknown_commands_options_and_choices() -> None:
    page = (
        "```bash\n"
        "find . -name '*.jpg' | hashtagger predict - --top-k 5 --format csv   # --not-checked\n"
        "hashtagger predict ~/p --write xmp --write embed --exclude selfie \\\n    --dry-run > out.txt\n"
        "torchrun --nproc_per_node 4 -m hashtagger train --config c.yaml --set train.epochs=3\n"
        "KEY=x hashtagger serve --port 9000 && hashtagger predcit photo.jpg\n"
        "hashtagger predict photo.jpg --format yaml --write=xmpp --no-such-option\n"
        "hashtagger download harrison --dir D --bogus 2>/dev/null\n"
        "```\n"
        "```\n$ hashtagger evaluate -m zeroshot --data d.csv --split nope\n#cat #dog\n```\n"
    )
    problems = [p for words in hashtagger_commands(page) for p in command_problems(words)]
    assert problems == [
        "hashtagger predcit: no such command",
        "hashtagger predict --format yaml: not one of text, json, jsonl, csv, none",
        "hashtagger predict --write xmpp: not one of xmp, embed, txt",
        "hashtagger predict --no-such-option: no such option",
        "hashtagger download --bogus: no such option",
        "hashtagger evaluate --split nope: not one of train, validation, val, test, all",
    ]


def test_the_code_map_check_finds_missing_stale_and_broken_entries(tmp_path: Path) -> None:
    for name in ("hashtagger/cli.py", "hashtagger/__init__.py", "hashtagger/a/x.py", "hashtagger/a/y.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "hashtagger/b").mkdir()
    (tmp_path / "hashtagger/b/z.py").write_text("")
    readme = (
        "# t\n## Code map\n**`hashtagger/`**: top\n- `cli.py`: the group\n"
        "**`hashtagger/a/`**: a\n- `x.py`: one; `gone.py`: moved away\n- `y.py`\n"
        "**`hashtagger/c/`**: c\n## After\n- `z.py`: not in the map\n"
    )
    assert code_map_problems(readme, tmp_path) == [
        "code map: a broken row: - `y.py`",
        "code map: folder hashtagger/b/ is not listed",
        "code map: folder hashtagger/c/ does not exist",
        "code map: hashtagger/a/y.py is not listed",
        "code map: hashtagger/a/gone.py does not exist",
    ]


def test_the_front_door_check_finds_a_long_readme_and_a_missing_test_command() -> None:
    good = "# t\n**Contents:** [Quick start](#quick-start)\n## Quick start\n## Development and tests\n"
    good += f"```bash\n{TEST_COMMAND}\n```\n"
    assert front_door_problems(good) == []
    assert front_door_problems(good + "\n" * MAX_README_LINES) == [
        f"README has {MAX_README_LINES + 7} lines, more than {MAX_README_LINES}"
    ]
    assert len(front_door_problems(good.replace("&& pytest", "&& pytest -x"))) == 1
    assert len(front_door_problems(good.replace("## Development and tests", "## Usage"))) == 1
    assert len(front_door_problems(good.replace("**Contents:**", "Contents"))) == 1
