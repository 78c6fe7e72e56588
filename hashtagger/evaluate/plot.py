"""Grouped bar chart of Accuracy@1/5/10 per model, from an evaluation result (matplotlib, optional).

matplotlib is the optional extra `hashtagger[plot]`; `require_matplotlib` lets the command fail
before a long evaluation rather than after it. The PNG is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hashtagger.errors import InputError, MissingDependencyError

KS = (1, 5, 10)
FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "webp")


def require_matplotlib(path: str | os.PathLike[str] | None = None) -> None:
    """Fail early, before any scoring: matplotlib missing, or `path` not an image type it writes."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError("--plot needs matplotlib: pip install 'hashtagger[plot]'") from None
    if path is not None and _format(path) not in FORMATS:
        raise InputError(f"--plot {path}: unsupported chart type (name it .png, .svg or .pdf)")


def _format(path: str | os.PathLike[str]) -> str:
    return Path(path).suffix.lower().lstrip(".") or "png"


def plot_accuracy(result: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Draw Accuracy@1/5/10 (%) as one group of bars per model; returns the file written."""
    require_matplotlib(path)
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only, no display needed
    import matplotlib.pyplot as plt

    from hashtagger.files import atomic_write

    path = Path(path).expanduser()
    fmt = _format(path)
    models = [row["model"] for row in result["models"]]
    width = 0.8 / len(KS)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(models) + 2), 4.2), layout="constrained")
    try:
        for j, k in enumerate(KS):
            values = [100 * (row["metrics"].get(f"accuracy@{k}") or 0.0) for row in result["models"]]
            xs = [i + (j - (len(KS) - 1) / 2) * width for i in range(len(models))]
            bars = ax.bar(xs, values, width, label=f"Accuracy@{k}")
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
        ax.set_xticks(range(len(models)), [_short(m) for m in models])
        ax.set_ylabel("Accuracy@K (%)")
        ax.set_ylim(0, 118)  # headroom for the legend above 100 %
        ax.set_yticks(range(0, 101, 20))
        ax.set_title(f"{result['dataset']} / {result['split']} ({result['images']:,} images)")
        ax.legend(loc="upper center", ncols=len(KS), fontsize=8, frameon=False)
        ax.grid(axis="y", alpha=0.3)
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=120))
    finally:
        plt.close(fig)
    return path


def _short(name: str, width: int = 28) -> str:
    """Checkpoint paths get long: keep the run folder and file name, which name the model."""
    parts = name.replace("\\", "/").rstrip("/").split("/")
    if len(parts) > 2:
        name = "/".join(parts[-2:])
    return name if len(name) <= width else "…" + name[-(width - 1) :]
