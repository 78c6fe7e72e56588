"""One progress protocol for every long stage: `progress(stage, done, total, **status)`.

Library code (predict, evaluate, train, the feature and SIFT passes, download, dataset checks)
reports with that one call: `done` counts units finished in the stage so far, `total` is None when
unknown (a stream of paths on stdin), `status` holds a few numbers worth showing (loss, lr). It never
prints. `StderrProgress` shows it: on a terminal a bar with the total and an ETA; otherwise (a log
file, CI) one short line every few seconds; with --quiet nothing but the lines that must be seen.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

log = logging.getLogger("hashtagger")

#: The one callback shape: progress(stage, done, total, **status).
ProgressFn = Callable[..., None]

#: Seconds between two lines when stderr is not a terminal.
LINE_EVERY_S = 5.0


class Progress:
    """Receives what a run reports. The base class logs messages (logger `hashtagger`) and shows nothing."""

    def __call__(
        self, stage: str, done: int, total: int | None = None, *, unit: str | None = None, **status: Any
    ) -> None:
        """`done` of `total` units of `stage` are finished (cumulative within the stage).

        `unit` names what is counted when it is not the default (photos): "B" for bytes, "tag", "file".
        """

    def message(self, text: str) -> None:
        """A line worth showing: a summary, an epoch's results, where files went, an error."""
        log.info(text)

    def note(self, text: str) -> None:
        """A line on what is happening now ('tracing to ONNX'): shown like progress, so --quiet hides it."""
        log.debug(text)

    def close(self) -> None:
        """The current stage ends (its bar goes away)."""

    def epoch_end(self, row: dict[str, Any]) -> None:
        """A training epoch's metrics row (as written to metrics.csv); a hook for callers and tests."""

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ToProgress(logging.Handler):
    """The `hashtagger` loggers' lines (a photo's decoder warning, a server's disconnect) shown by the CLI's
    StderrProgress, above its bar, like every other message: the one route to stderr."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.target: StderrProgress | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.target is not None:
            self.target.message(record.getMessage())


_BRIDGE = _ToProgress()


class StderrProgress(Progress):
    """Progress on stderr: a tqdm bar on a terminal, a line every few seconds elsewhere, none when quiet.

    Messages are always written (with --quiet too: errors must be seen), above the bar when one is shown;
    so are the lines library code logs (logger `hashtagger`): every command's stderr goes through here.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        unit: str = "photo",
        every_s: float = LINE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.quiet, self.unit, self.every_s, self.clock = quiet, unit, every_s, clock
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.stage: str | None = None
        self.stage_unit = unit
        self.base = -1
        self.bar: Any = None
        self.started = self.last_line = 0.0
        self.done = 0
        if not log.handlers:  # the library's log lines reach stderr through this progress, not on their own
            log.addHandler(_BRIDGE)
            log.setLevel(logging.INFO)
            log.propagate = False
        _BRIDGE.target = self

    def __call__(
        self, stage: str, done: int, total: int | None = None, *, unit: str | None = None, **status: Any
    ) -> None:
        if self.quiet:
            return
        if stage != self.stage:
            self._begin(stage, total, unit or self.unit)
        if self.base < 0:
            self.base = done
        if self.bar is not None:
            self._draw(done, total, status)
        elif not self.tty:
            # A line every few seconds, and a last one for a stage that lasted that long.
            now = self.clock()
            finished = total is not None and done >= total and done != self.done
            if now - self.last_line >= self.every_s or (finished and now - self.started >= self.every_s):
                self.last_line = now
                rate = (done - self.base) / max(now - self.started, 1e-9)
                self._write(line(stage, done, total, rate, self.stage_unit, status))
        self.done = done

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            self._write(text)

    def note(self, text: str) -> None:
        if not self.quiet:
            self.message(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.stage = None

    def _begin(self, stage: str, total: int | None, unit: str) -> None:
        self.close()
        self.stage, self.done, self.stage_unit = stage, 0, unit
        self.base = -1  # set by the stage's first report: rates count from there
        self.started = self.last_line = self.clock()
        if self.tty:
            from tqdm import tqdm

            byte = unit == "B"
            self.bar = tqdm(
                total=total,
                desc=stage,
                unit=unit,
                unit_scale=byte,
                unit_divisor=1024 if byte else 1000,
                file=self.stream,
                dynamic_ncols=True,
                leave=False,
                smoothing=0.1,
            )

    def _draw(self, done: int, total: int | None, status: dict[str, Any]) -> None:
        if total is not None and self.bar.total != total:
            self.bar.total = total
        if status:
            self.bar.set_postfix({k: _fmt(v) for k, v in status.items()}, refresh=False)
        self.bar.update(done - self.done)

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def line(
    stage: str, done: int, total: int | None, rate: float, unit: str = "photo", status: dict | None = None
) -> str:
    """'features: 320/5,000 photos (6%), 12.3 photo/s, ETA 6m20s': what a log file gets every few seconds."""
    if unit == "B":
        text = f"{stage}: {done / 1e6:,.1f}" + (f"/{total / 1e6:,.1f} MB" if total else " MB")
        speed = f"{rate / 1e6:.1f} MB/s"
    else:
        text = f"{stage}: {done:,}" + (f"/{total:,}" if total else "") + f" {unit}s"
        speed = f"{rate:.1f} {unit}/s"
    parts = [text]
    if total:
        parts[0] += f" ({100 * done / total:.0f}%)"
    parts.append(speed)
    if total and rate > 0 and done < total:
        parts.append(f"ETA {duration((total - done) / rate)}")
    parts += [f"{k} {_fmt(v)}" for k, v in (status or {}).items()]
    return ", ".join(parts)


def duration(seconds: float) -> str:
    """12s, 6m20s, 2h05m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _fmt(v: Any) -> Any:
    return f"{v:.4g}" if isinstance(v, float) else v
