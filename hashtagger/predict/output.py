"""Formatters: predictions -> text, JSON, JSON Lines or CSV, written as they arrive."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from typing import TextIO

from hashtagger.choices import PREDICT_FORMATS
from hashtagger.predict.keywords import hashtag
from hashtagger.predict.predictions import Hashtag, Prediction

FORMATS = PREDICT_FORMATS

_TEXT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(s: str, text: bool) -> str:
    out = []
    for c in s:
        o = ord(c)
        if 0xDC80 <= o <= 0xDCFF:  # an undecodable byte of a file name (PEP 383)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}")
        elif text and c in _TEXT_ESCAPES:
            out.append(_TEXT_ESCAPES[c])
        elif text and (o < 0x20 or o == 0x7F):
            out.append(f"\\x{o:02x}")
        else:
            out.append(c)
    return "".join(out)


def safe_text(s: str) -> str:
    """s as valid UTF-8: each byte of a file name that is not UTF-8 becomes the 4 characters \\xNN.

    Python hands such bytes over as lone surrogates (PEP 383); written as they are, they crash a
    strict UTF-8 stream or put invalid bytes into JSON and CSV. Used for JSON, JSON Lines and CSV.
    """
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return _escape(s, text=False)


def text_path(path: str) -> str:
    """A path for the one-line-per-photo text format: like safe_text, and backslash, newline, tab,
    CR and other control characters escaped (\\\\, \\n, \\t, \\r, \\xNN), so each photo stays on one line."""
    return _escape(path, text=True)


def prediction_record(p: Prediction, digits: int = 4) -> dict[str, object]:
    """The JSON record of the output contract: {path, hashtags: [{tag, score}]} or {path, error}."""
    path = safe_text(p.path)
    where: dict[str, object] = {"path": path} if p.index is None else {"path": path, "index": p.index}
    if p.error is not None:
        return {**where, "error": safe_text(p.error)}
    return {**where, "hashtags": [hashtag_record(h, digits) for h in p.hashtags]}


def split_kinds(hashtags: list[Hashtag]) -> tuple[list[Hashtag], list[Hashtag]]:
    """(content tags, reach tags), each in ranked order; tags without parts count as content."""
    content = [h for h in hashtags if h.parts.get("kind") != "reach"]
    return content, [h for h in hashtags if h.parts.get("kind") == "reach"]


def grouped(p: Prediction) -> Prediction:
    """--group: content tags first, then reach tags."""
    content, reach = split_kinds(p.hashtags)
    return replace(p, hashtags=content + reach)


def hashtag_record(h: Hashtag, digits: int = 4) -> dict[str, object]:
    """{tag, score} plus the parts (visual, social, cooccurrence, popularity, kind, ...), rounded."""
    parts = {k: round(v, digits) if isinstance(v, float) else v for k, v in h.parts.items()}
    return {"tag": h.tag, "score": round(h.score, digits), **parts}


def why_lines(p: Prediction, prefix: str = "#") -> list[str]:
    """`--why`: one readable line per hashtag saying where its score comes from; the sum adds up."""
    width = max((len(prefix + h.tag) for h in p.hashtags), default=0)
    lines = []
    for h in p.hashtags:
        line = f"  {prefix + h.tag:<{width}}  {h.score:.4f}"
        if h.parts:
            value, sum_text = _why_sum(h, prefix)
            if h.parts.get("held"):  # scored below its value, so that content tags come first
                line += f"  held back from {value:.4f} to keep content first; {value:.4f} = {sum_text}"
            else:
                line += f"  = {sum_text}"
        lines.append(line)
    return lines


def _why_sum(h: Hashtag, prefix: str) -> tuple[float, str]:
    """(the value a ranked tag's parts add up to, the sum as text): visual + social, x lift^2 for a reach
    tag (the ranking's default exponent), less the diversity discount."""
    visual, social = float(h.parts["visual"]), float(h.parts["social"])  # type: ignore[arg-type]
    value = visual + social
    parts = f"visual {visual:.4f} + social {social:.4f}"
    detail = f"co-occurrence {h.parts['cooccurrence']:.4f}, popularity {h.parts['popularity']:.4f}"
    if h.parts.get("kind") == "reach":
        lift = float(h.parts.get("lift", 1.0))  # type: ignore[arg-type]
        value *= lift**2
        text = f"({parts}) x lift {lift:.2f}^2 ({detail}); reach tag"
    else:
        text = f"{parts} ({detail})"
    if "similar_to" in h.parts:
        discount = float(h.parts["discount"])  # type: ignore[arg-type]
        value -= discount
        text += f"; less {discount:.4f}, close to {prefix}{h.parts['similar_to']}"
    return value, text


class Writer:
    """Streams one format to a text stream; `close` finishes documents such as a JSON array."""

    def __init__(
        self,
        fmt: str,
        out: TextIO,
        *,
        single: bool = False,
        hash_prefix: bool = True,
        why: bool = False,
        group: bool = False,
    ) -> None:
        self.fmt, self.out, self.single, self.prefix = fmt, out, single, "#" if hash_prefix else ""
        self.why, self.group = why, group
        self.count = 0
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if self._csv:
            self._csv.writerow(["path", "rank", "tag", "score"])

    def write(self, p: Prediction) -> None:
        if self.fmt == "none":
            return
        if self.group:
            p = grouped(p)
        if self.fmt == "jsonl":
            self.out.write(json.dumps(prediction_record(p), ensure_ascii=False) + "\n")
        elif self.fmt == "json":
            self.out.write(
                ("[\n  " if self.count == 0 else ",\n  ")
                + json.dumps(prediction_record(p), ensure_ascii=False)
            )
        elif self._csv is not None:
            for rank, h in enumerate(p.hashtags, 1):
                self._csv.writerow([safe_text(p.path), rank, h.tag, f"{h.score:.4f}"])
        elif p.error is None:
            groups = split_kinds(p.hashtags) if self.group else (p.hashtags,)  # text: a tab between groups
            tags = "\t".join(" ".join(self.prefix + hashtag(h.tag) for h in g) for g in groups)
            self.out.write(tags + "\n" if self.single else f"{text_path(p.path)}\t{tags}\n")
            if self.why:
                self.out.write("".join(line + "\n" for line in why_lines(p, self.prefix)))
        self.count += 1
        self.out.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("[]\n" if self.count == 0 else "\n]\n")
            self.out.flush()
