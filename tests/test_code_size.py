"""Small modules and short functions, so that a newcomer can read one stage at a time.

The aim is ~400 lines per module and ~60 per function; these are the hard limits.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hashtagger"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    modules, functions = {}, {}
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(PACKAGE.parent))
        modules[name] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions[f"{name}:{node.lineno} {node.name}"] = node.end_lineno - node.lineno + 1
    return modules, functions


def test_no_module_is_over_450_lines() -> None:
    modules, _ = _sizes()
    assert len(modules) > 40  # the walk found the package
    assert {m: n for m, n in modules.items() if n > MAX_MODULE_LINES} == {}


def test_no_function_is_over_80_lines() -> None:
    _, functions = _sizes()
    assert any(name.endswith(" run_training") for name in functions)
    assert {f: n for f, n in functions.items() if n > MAX_FUNCTION_LINES} == {}
