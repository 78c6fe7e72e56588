"""Ctrl-C during training: the first one (or SIGTERM) finishes the step, saves and exits; a second aborts.

Under torchrun one process getting the signal is enough: `Stop.agreed` is a collective that makes every
process stop at the same step.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hashtagger.train import distributed
from hashtagger.train.distributed import DistInfo


class Stop:
    """`requested`: this process got the signal; `agreed()`: every process has heard of it (collective)."""

    def __init__(self, device: str = "cpu", info: DistInfo | None = None) -> None:
        self.requested = False
        self.device = device
        self.info = info

    def agreed(self) -> bool:
        """Whether to stop now; under DDP every process must call it at the same point."""
        if self.info is None or not self.info.enabled:
            return self.requested
        return distributed.all_reduce_max(1.0 if self.requested else 0.0, self.device) > 0


@contextmanager
def stop_on_signals(device: str = "cpu", info: DistInfo | None = None) -> Iterator[Stop]:
    """A Stop set by SIGINT/SIGTERM while the block runs (only the main thread can take signals)."""
    stop = Stop(device, info)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.requested = True

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
