"""`--shard K/N`: a stable partition of the inputs, so N independent runs tag every photo exactly once.

A photo's shard comes from a digest of its path as the run yields it (the same string that appears in
the output), never from file order, modification times or Python's per-process salted `hash()`. Any
scheduler can then run the N shards in any order, on any machines, with the same command line; and a
failed shard can be re-run alone. No heavy imports: the CLI parses `--shard` at start-up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hashtagger.errors import InputError


def shard_of(path: str, count: int) -> int:
    """Which of `count` shards a path belongs to: BLAKE2b of its UTF-8 bytes, modulo `count`."""
    digest = hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0 <= index < count)."""

    index: int
    count: int

    def holds(self, path: str) -> bool:
        return shard_of(path, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(spec: str) -> Shard:
    """'K/N' -> Shard(K, N); a one-line InputError for anything else."""
    k, sep, n = spec.strip().partition("/")
    try:
        index, count = int(k), int(n)
    except ValueError:
        index = count = -1
    if not sep or count < 1 or not 0 <= index < count:
        raise InputError(f"--shard {spec}: expected K/N with 0 <= K < N, e.g. 0/4 for the first of 4 shards")
    return Shard(index, count)


@dataclass
class ShardSelection:
    """Keeps the inputs of one shard and remembers each one's position among all inputs.

    The position (`index` in json/jsonl records) lets merged shards be put back in input order.
    """

    shard: Shard
    _positions: dict[str, int] = field(default_factory=dict)

    def select(self, items: Iterable[object]) -> Iterator[object]:
        """The items (paths, or objects with a `.path`) that fall in this shard, in input order."""
        for position, item in enumerate(items):
            path = item if isinstance(item, str) else str(getattr(item, "path"))  # noqa: B009
            if self.shard.holds(path):
                self._positions.setdefault(path, position)
                yield item

    def position(self, path: str) -> int | None:
        """The input position of a selected path (forgotten once asked, so memory stays flat)."""
        return self._positions.pop(path, None)
