"""Formatters: predictions -> text, JSON, JSON Lines or CSV, written as they arrive."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from typing import TextIO

FORMATS = ("text", "json", "jsonl", "csv")


@dataclass(frozen=True)
class Hashtag:
    tag: str
    score: float


@dataclass(frozen=True)
class Prediction:
    """One photo's hashtags, best first, or the one-line reason it failed."""

    path: str
    hashtags: list[Hashtag] = field(default_factory=list)
    error: str | None = None
    index: int | None = None  # position among all inputs, set by --shard for merging shards in order


def prediction_record(p: Prediction, digits: int = 4) -> dict[str, object]:
    """The JSON record of the output contract: {path, hashtags: [{tag, score}]} or {path, error}."""
    where: dict[str, object] = {"path": p.path} if p.index is None else {"path": p.path, "index": p.index}
    if p.error is not None:
        return {**where, "error": p.error}
    return {**where, "hashtags": [{"tag": h.tag, "score": round(h.score, digits)} for h in p.hashtags]}


class Writer:
    """Streams one format to a text stream; `close` finishes documents such as a JSON array."""

    def __init__(self, fmt: str, out: TextIO, *, single: bool = False, hash_prefix: bool = True) -> None:
        self.fmt, self.out, self.single, self.prefix = fmt, out, single, "#" if hash_prefix else ""
        self.count = 0
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if self._csv:
            self._csv.writerow(["path", "rank", "tag", "score"])

    def write(self, p: Prediction) -> None:
        if self.fmt == "jsonl":
            self.out.write(json.dumps(prediction_record(p), ensure_ascii=False) + "\n")
        elif self.fmt == "json":
            self.out.write(
                ("[\n  " if self.count == 0 else ",\n  ")
                + json.dumps(prediction_record(p), ensure_ascii=False)
            )
        elif self._csv is not None:
            for rank, h in enumerate(p.hashtags, 1):
                self._csv.writerow([p.path, rank, h.tag, f"{h.score:.4f}"])
        elif p.error is None:
            tags = " ".join(self.prefix + h.tag for h in p.hashtags)
            self.out.write(tags + "\n" if self.single else f"{p.path}\t{tags}\n")
        self.count += 1
        self.out.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("[]\n" if self.count == 0 else "\n]\n")
            self.out.flush()
