"""Reading a config file safely: bounded in size, in alias expansion ("billion laughs") and in depth.

`read_yaml` returns the plain nested dict `hashtagger.train.config` checks key by key; `show` quotes a
value in an error message, bounded, so a hostile file cannot flood the terminal.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

import yaml

from hashtagger.errors import ConfigError

MAX_YAML_NODES = 10_000  # a config has ~60 keys; aliases may not expand a file past this many nodes
MAX_CONFIG_BYTES = 1 << 20


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file as a plain dict, bounded in size, aliases and depth; one ConfigError if unreadable."""
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a YAML config file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes is too large for a config file")
    try:
        data = _safe_load_bounded(path.read_text(encoding="utf-8"))
    except _TooManyAliases:
        raise ConfigError(
            f"{path}: refused: its aliases (*name) expand past {MAX_YAML_NODES:,} values; "
            "write the values out instead"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: refused: nested too deeply for a config file") from None
    except ValueError as e:  # PyYAML's int() of a number with thousands of digits
        why = "a number has thousands of digits" if "digits" in str(e) else show(str(e))
        raise ConfigError(f"{path}: cannot read a value ({why})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}:{where}: not valid YAML ({problem})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a config must be a mapping of sections (data, model, train, bovw, out, seed)"
        )
    return data


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents whose aliases expand past MAX_YAML_NODES nodes.

    Aliases share one node, so loading stays cheap, but anything that walks the result (a
    copy, an error message quoting a value) pays for the full expansion: 8 nested anchors in
    a few hundred bytes stand for billions of values (the "billion laughs").
    """

    def compose_document(self) -> Any:
        node = super().compose_document()
        if _expanded_size(node, {}) > MAX_YAML_NODES:
            raise _TooManyAliases()
        return node


class _TooManyAliases(yaml.YAMLError):
    pass


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """Nodes the document would have with every alias written out (memoised: linear in its size)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_YAML_NODES + 1  # a node inside itself (a recursive alias) expands forever
    children: list[Any] = []
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    size = 1
    for child in children:
        size += _expanded_size(child, memo)
        if size > MAX_YAML_NODES:
            break
    memo[key] = size
    return size


def _safe_load_bounded(text: str) -> Any:
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


_short = reprlib.Repr()
_short.maxlevel, _short.maxdict, _short.maxlist, _short.maxstring, _short.maxother = 2, 4, 4, 60, 60


def show(value: Any, limit: int = 80) -> str:
    """A value as quoted in an error message: its repr, bounded in depth and cut to `limit` characters."""
    text = _short.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
