"""Progress on stderr (tqdm), silent with --quiet or when stderr is not a terminal; errors always shown."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TextIO


class _Bar:
    def __init__(self, bar, stream: TextIO) -> None:  # noqa: ANN001
        self._bar, self._stream = bar, stream

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def set_postfix(self, **kw: object) -> None:
        if self._bar is not None:
            self._bar.set_postfix(**kw)

    def write(self, line: str) -> None:
        """A message that must be seen (an error), printed above the bar."""
        if self._bar is not None:
            self._bar.write(line, file=self._stream)
        else:
            self._stream.write(line + "\n")
            self._stream.flush()


@contextlib.contextmanager
def progress_bar(
    desc: str,
    *,
    total: int | None = None,
    unit: str = "it",
    quiet: bool = False,
    stream: TextIO | None = None,
) -> Iterator[_Bar]:
    """A tqdm bar on stderr when it is a terminal and not quiet; otherwise only `write` prints."""
    stream = stream or sys.stderr
    show = not quiet and hasattr(stream, "isatty") and stream.isatty()
    if not show:
        yield _Bar(None, stream)
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True, leave=False) as bar:
        yield _Bar(bar, stream)


class StageBars:
    """A progress(stage, done, total) callback: one stderr bar per stage, via progress.progress_bar."""

    def __init__(self, quiet: bool) -> None:
        import contextlib

        self.quiet, self.stack, self.stage, self.done, self.bar = quiet, contextlib.ExitStack(), None, 0, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.stack.close()
            self.bar = self.stack.enter_context(progress_bar(stage, total=total, quiet=self.quiet))
            self.stage, self.done = stage, 0
        self.bar.update(done - self.done)
        self.done = done

    def __enter__(self) -> StageBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()
