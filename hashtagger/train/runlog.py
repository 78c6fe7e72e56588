"""What a run leaves to read while and after it runs: metrics.csv, and TensorBoard events when installed.

One row per epoch (train loss, images/s, validation loss, mAP, P/R/A@1,5,10), written by rank 0 only.
A resumed run drops the rows of epochs it is about to redo, so the file always describes last.pt.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from hashtagger.files import atomic_write
from hashtagger.progress import Progress
from hashtagger.train import distributed
from hashtagger.train.config import Config
from hashtagger.train.engine import StepResult
from hashtagger.train.rundir import TENSORBOARD

METRIC_COLUMNS = (
    "loss",
    "map",
    "precision@1",
    "recall@1",
    "accuracy@1",
    "precision@5",
    "recall@5",
    "accuracy@5",
    "f1@5",
    "precision@10",
    "recall@10",
    "accuracy@10",
)
CSV_COLUMNS = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    "train_images",
    "skipped",
    "images_per_s",
    "seconds",
    *(f"val_{m}" for m in METRIC_COLUMNS),
)


class RunLog:
    """metrics.csv (one row per epoch) and, when installed, TensorBoard events; rank 0 only."""

    def __init__(
        self,
        run_dir: Path,
        *,
        enabled: bool,
        tensorboard: bool | None,
        keep_epochs: int,
        progress: Progress,
        resumed: bool,
    ) -> None:
        self.path = run_dir / "metrics.csv"
        self.enabled = enabled
        self.writer: Any = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        # A resumed run drops rows of epochs it is about to redo; a fresh run starts a fresh file.
        rows = self._rows() if resumed else []
        self._rewrite([r for r in rows if _int(r.get("epoch")) <= keep_epochs])
        if tensorboard is not False:
            self.writer = _summary_writer(run_dir, keep_epochs, progress if tensorboard else None)

    def _rows(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with open(self.path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        text = buf.getvalue()
        atomic_write(self.path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
        if self.writer is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)):
                    self.writer.add_scalar(
                        k.replace("val_", "val/").replace("train_", "train/"), v, row["epoch"]
                    )
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def epoch_row(epoch: int, step: int, out: StepResult, val: dict[str, float], device: str) -> dict[str, Any]:
    """An epoch's metrics.csv row: training totals (summed over every process) and validation metrics."""
    state = out.state
    row: dict[str, Any] = {
        "epoch": epoch + 1,
        "step": step,
        "lr": out.lr,
        "train_loss": state.loss,
        "train_images": state.images,
        "skipped": state.skipped,
        "images_per_s": state.images / state.seconds if state.seconds > 0 else 0.0,
        "seconds": state.seconds,
    }
    for k in METRIC_COLUMNS:
        if k in val:
            row[f"val_{k}"] = val[k]
    # Under DDP the train loss above is rank 0's; average it over all processes.
    total = distributed.all_reduce_sum([state.loss_sum, float(state.images)], device)
    if total[1] > 0:
        row["train_loss"] = total[0] / total[1]
        row["train_images"] = int(total[1])
        row["images_per_s"] = total[1] / state.seconds if state.seconds > 0 else 0.0
    return row


def epoch_line(row: dict[str, Any], cfg: Config, best: bool) -> str:
    """The one line an epoch prints."""
    parts = [f"epoch {row['epoch']}/{cfg.train.epochs}", f"loss {row['train_loss']:.4f}"]
    for key, label in (
        ("val_loss", "val_loss"),
        ("val_map", "mAP"),
        ("val_accuracy@1", "acc@1"),
        ("val_accuracy@5", "acc@5"),
    ):
        if key in row:
            parts.append(f"{label} {row[key]:.4f}")
    parts.append(f"{row['images_per_s']:.0f} img/s")
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts) + ("  *best" if best else "")


_NOTED: set[str] = set()


def _summary_writer(run_dir: Path, keep_epochs: int, progress: Progress | None) -> Any:
    """A TensorBoard writer, or None when tensorboard is missing; that is said once per process, and
    only when the config asked for TensorBoard (train.tensorboard: true)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if progress is not None and "tensorboard" not in _NOTED:
            _NOTED.add("tensorboard")
            progress.message(
                "note: train.tensorboard is true but tensorboard is not installed "
                "(pip install 'hashtagger[tensorboard]'); metrics go to metrics.csv only"
            )
        return None
    return SummaryWriter(log_dir=str(run_dir / TENSORBOARD), purge_step=keep_epochs + 1)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
