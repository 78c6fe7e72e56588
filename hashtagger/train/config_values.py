"""One config value: `--set` text read as a YAML scalar, then coerced and checked against its field.

A field's annotation gives the type (int, float, bool, str, each optionally None) and its metadata
the limits (choices, min, max); every message names the full dotted key.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

import yaml

from hashtagger.errors import ConfigError
from hashtagger.train.config_yaml import show

MAX_INT = 2**63 - 1  # what every consumer (torch, numpy) can hold


def parse_override(item: str) -> tuple[str, Any]:
    """'train.lr=3e-4' -> ('train.lr', 0.0003): values follow YAML scalar rules."""
    if "=" not in item:
        raise ConfigError(f"--set {show(item)}: expected KEY=VALUE, e.g. --set train.epochs=3")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {show(item)}: the key is empty")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError, RecursionError):
        value = raw  # not a YAML scalar (or an absurd one): the type check names the key
    if isinstance(value, (dict, list)):
        value = raw  # only scalars are overridable; let the type check name the key
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return key, Scalar(value, raw.strip())
    return key, value


class Scalar:
    """A number from `--set` that remembers its text, so `--set out=2024` stays the string '2024'."""

    def __init__(self, value: int | float, text: str) -> None:
        self.value = value
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _number(text: str, base: type) -> Any:
    try:
        return base(text.strip())
    except ValueError:
        return text


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def check_value(key: str, f: dataclasses.Field, value: Any, owner: type) -> Any:
    """Coerce and check one value against its field's annotation and metadata."""
    hint = typing.get_type_hints(owner)[f.name]
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    base = next(a for a in args if a is not type(None)) if optional else hint
    text = value.text if isinstance(value, Scalar) else None
    if isinstance(value, Scalar):
        value = value.value
    if value is None or (optional and base is not str and isinstance(value, str) and value.lower() == "none"):
        if optional:
            return None
        raise ConfigError(f"config key '{key}': expected {_TYPE_WORDS[base]}, got null")
    if base in (int, float) and isinstance(value, str):
        value = _number(value, base)  # PyYAML reads 1e-3 (no dot) as a string
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected true or false, got {show(value)}")
    elif base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}': expected an integer, got {show(value)}")
        bounded = f.metadata.get("max") if value > 0 else f.metadata.get("min")
        if abs(value) > MAX_INT and bounded is None:  # else the field's own limit names it below
            raise ConfigError(f"config key '{key}': {show(value)} is too large (at most {MAX_INT})")
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}': expected a number, got {show(value)}")
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise ConfigError(f"config key '{key}': expected a finite number, got {value}")
    elif base is str:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a string, got {show(value)} (quote it)")
        if isinstance(value, (int, float)):
            value = text if text is not None else str(value)
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}': expected a string, got {show(value)}")
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"config key '{key}': {show(value)} is not one of {', '.join(map(str, choices))}")
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if lo is not None and value < lo:
        raise ConfigError(f"config key '{key}': {show(value)} is below the minimum {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"config key '{key}': {show(value)} is above the maximum {hi}")
    return value
