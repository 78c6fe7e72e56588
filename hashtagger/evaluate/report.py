"""Render an evaluation result (see `evaluate.evaluate_dataset`) as a table, JSON or CSV.

Pure string building: no I/O, no torch, so every format is testable on a hand-made dict.
The table shows percentages like the papers do; JSON and CSV keep fractions in [0, 1].
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from hashtagger.choices import REPORT_FORMATS

FORMATS = REPORT_FORMATS

#: (header, metric key) of the table's columns.
TABLE_COLUMNS = (
    ("P@1", "precision@1"), ("R@1", "recall@1"), ("A@1", "accuracy@1"),
    ("P@5", "precision@5"), ("R@5", "recall@5"), ("A@5", "accuracy@5"),
    ("P@10", "precision@10"), ("R@10", "recall@10"), ("A@10", "accuracy@10"),
    ("mAP", "map"), ("F1mic", "f1_micro"), ("F1mac", "f1_macro"),
)  # fmt: skip
CSV_FIELDS = ("model", "kind", "vocabulary_size", "thresholds", "truth_in_vocabulary")


def render(result: dict[str, Any], fmt: str = "table") -> str:
    """The result in one of FORMATS, ending with a newline."""
    if fmt == "json":
        return to_json(result)
    if fmt == "csv":
        return to_csv(result)
    if fmt == "table":
        return to_table(result)
    raise ValueError(f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")


#: Significant digits of every float in JSON: metrics to 0.01 percentage points, small thresholds kept.
JSON_DIGITS = 4


def to_json(result: dict[str, Any]) -> str:
    """Indented JSON, floats to JSON_DIGITS significant digits (not 17); undefined metrics are null."""
    return json.dumps(_rounded(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _rounded(value: Any) -> Any:
    """`value` with every float rounded to JSON_DIGITS significant digits (0.2553, 0.002941, 1.0)."""
    if isinstance(value, float):
        return float(f"{value:.{JSON_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _metric_keys(result: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    for row in result["models"]:
        keys.extend(k for k in row["metrics"] if k not in keys)
    return keys


def to_csv(result: dict[str, Any]) -> str:
    """One row per model: identity columns, then split/images, then every metric key (fractions)."""
    keys = _metric_keys(result)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*CSV_FIELDS, "dataset", "split", "images", *keys])
    for row in result["models"]:
        w.writerow([
            *("" if row.get(f) is None else _csv_value(row[f]) for f in CSV_FIELDS),
            result["dataset"], result["split"], result["images"],
            *("" if row["metrics"].get(k) is None else f"{row['metrics'][k]:.6f}" for k in keys),
        ])  # fmt: skip
    return buf.getvalue()


def _csv_value(v: Any) -> str:
    return f"{v:.6f}" if isinstance(v, float) else str(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def to_table(result: dict[str, Any]) -> str:
    """A fixed-width table, one row per model (popularity included), metrics in percent."""
    head = ["model", "tags", *(h for h, _ in TABLE_COLUMNS)]
    body = [
        [row["model"], str(row["vocabulary_size"]), *(_pct(row["metrics"].get(k)) for _, k in TABLE_COLUMNS)]
        for row in result["models"]
    ]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    failed = result.get("failed_images", 0)
    title = f"{result['dataset']} / {result['split']}: {result['images']:,} images"
    if failed:
        title += f" ({failed:,} unreadable, left out)"
    lines = [title + ", metrics in %", line(head), line(["-" * w for w in widths]), *map(line, body)]
    lines.append(
        "P/R/A@K: precision, recall, hit rate of the top K; F1 at each model's thresholds "
        "(calibrated per tag, else the model's default cut-off)"
    )
    source = result.get("popularity_source")
    if source:
        freq = "training split" if source == "train" else "vocabulary file's ranks"
        lines.append(f"popularity: always the most frequent tags of the {freq}")
    return "\n".join(lines) + "\n"
