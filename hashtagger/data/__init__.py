"""Datasets: HARRISON lists, manifests and folders per tag, read into one Record/Dataset shape.

No torch here: the torch Dataset/DataLoader wrapper lives in hashtagger.data.loader.
"""

from __future__ import annotations

from .formats import detect_format, load_dataset, read_vocab_index
from .records import SPLITS, Dataset, Record, normalize_split, normalize_tag, parse_tags
from .summary import DatasetSummary, format_summary, summarize
from .vocab import build_vocabulary

__all__ = [
    "SPLITS",
    "Dataset",
    "DatasetSummary",
    "Record",
    "build_vocabulary",
    "detect_format",
    "format_summary",
    "load_dataset",
    "normalize_split",
    "normalize_tag",
    "parse_tags",
    "read_vocab_index",
    "summarize",
]
