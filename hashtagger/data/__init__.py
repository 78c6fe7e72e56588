"""Datasets: HARRISON lists, manifests and folders per tag, read into one Record/Dataset shape.

No torch here: the torch Dataset/DataLoader wrapper lives in hashtagger.data.loader. The names below
load on first use, so that `hashtagger --help` (which imports `data.command`) stays free of numpy/PIL.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "detect_format": "formats",
    "load_dataset": "formats",
    "read_vocab_index": "formats",
    "SPLITS": "records",
    "Dataset": "records",
    "Record": "records",
    "normalize_split": "records",
    "normalize_tag": "records",
    "parse_tags": "records",
    "DatasetSummary": "summary",
    "format_summary": "summary",
    "summarize": "summary",
    "build_vocabulary": "vocab",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hashtagger.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hashtagger.data.{_EXPORTS[name]}"), name)
