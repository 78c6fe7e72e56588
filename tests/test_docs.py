"""The README is a front door that stays true: short, every relative link resolves, every command and option
it shows exists, the code map names every module, and the test command is there verbatim."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click

from hashtagger.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in page.read_text().splitlines() if line.startswith("#")}


def links(page: Path) -> list[str]:
    return [m for m in LINK.findall(page.read_text()) if not re.match(r"[a-z]+://", m)]


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in links(page):
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists() or (anchor and file.suffix == ".md" and anchor not in anchors(file)):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# Title\n[a](missing.md) [b](#title) [c](#nowhere)\n")
    assert links(page) == ["missing.md", "#title", "#nowhere"] and anchors(page) == {"title"}


def test_readme_is_a_front_door() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 450
    assert "pip install -e '.[test]' && pytest" in text  # .ci/run runs this command
    assert "**Contents:**" in text.split("## Quick start")[0]


def test_the_code_map_names_every_module() -> None:
    code_map = README.read_text().split("## Code map", 1)[1]
    missing = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "hashtagger").rglob("*.py"))
        if f"`{p.name}`" not in code_map and p.name != "__init__.py"
    ]
    assert missing == []


def _commands(text: str) -> list[list[str]]:
    """Each `hashtagger ...` command in the README's bash blocks, split as a shell would."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"[|;&]+", line.split("#", 1)[0] if " #" in line else line):
                words = shlex.split(part.replace("$(", "").replace(")", ""), posix=True)
                while words and ("=" in words[0] or words[0] in ("cd", "&&")):
                    words = words[1:]
                if words[:1] == ["hashtagger"] and len(words) > 1:
                    found.append(words[1:])
    return found


def test_every_readme_command_and_option_exists() -> None:
    bad = []
    commands = _commands(README.read_text())
    assert len(commands) >= 15
    for words in commands:
        command = cli.commands.get(words[0])
        if command is None:
            bad.append(" ".join(words))
            continue
        known = {o for p in command.params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts}
        opts = [w.split("=")[0] for w in words[1:] if w.startswith("-") and w != "-"]
        bad += [f"{words[0]} {o}" for o in opts if o not in known]
    assert bad == []
