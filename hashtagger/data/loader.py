"""Feeding a training run: records -> (uint8 image batch, multi-hot targets), and the DataLoader factory.

A photo that fails to decode is skipped and counted, never crashes an epoch. The sampler
yields (index, epoch) pairs so augmentation seeds depend on the image and the epoch only:
a resumed run, or a run with another number of workers, sees the same crops. Shuffling is
torch's DistributedSampler (one replica without torchrun), so the order is the same seeded
permutation in one process or many.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from torch.utils.data import Dataset as TorchDataset

from hashtagger.errors import ImageError
from hashtagger.image.transforms import EvalTransform, item_rng
from hashtagger.runtime import cpu_cores

if TYPE_CHECKING:
    from hashtagger.data.records import Record


class Batch(NamedTuple):
    """One step's input: images (uint8 NCHW) or cached features (float NF), and their labels."""

    inputs: torch.Tensor
    targets: torch.Tensor  # float (N, V) multi-hot over the vocabulary
    n_true: torch.Tensor  # long (N,): true tags per image, out-of-vocabulary ones included (for recall)
    skipped: int  # photos of this batch that could not be decoded
    index: torch.Tensor  # long (N,): dataset positions of the rows (decoded photos only)


def tag_indices(records: Sequence[Record], vocabulary: Sequence[str]) -> tuple[list[list[int]], list[int]]:
    """Per record: the vocabulary indices of its tags, and its number of distinct true tags."""
    index = {t: i for i, t in enumerate(vocabulary)}
    ids = [[index[t] for t in dict.fromkeys(r.tags) if t in index] for r in records]
    return ids, [len(set(r.tags)) for r in records]


def multi_hot(ids: Sequence[Sequence[int]], num_tags: int) -> torch.Tensor:
    """(N, V) float targets from per-record index lists."""
    out = torch.zeros(len(ids), num_tags)
    for row, cols in enumerate(ids):
        if cols:
            out[row, list(cols)] = 1.0
    return out


class ImageTagDataset(TorchDataset):
    """Records as (uint8 CHW tensor | None, tag indices, true-tag count); None marks an undecodable photo."""

    def __init__(
        self, records: Sequence[Record], vocabulary: Sequence[str], transform: EvalTransform, seed: int = 0
    ):
        self.paths = [str(r.path) for r in records]
        self.ids, self.n_true = tag_indices(records, vocabulary)
        self.num_tags = len(vocabulary)
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor | None, list[int], int, int]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        try:
            arr = self.transform(self.paths[index], item_rng(self.seed, epoch, index))
            image: torch.Tensor | None = torch.from_numpy(arr)
        except ImageError:
            image = None
        return image, self.ids[index], self.n_true[index], index

    def collate(self, items: list[tuple[torch.Tensor | None, list[int], int, int]]) -> Batch:
        """Stack the decodable photos; count the rest."""
        good = [it for it in items if it[0] is not None]
        skipped = len(items) - len(good)
        if good:
            images = torch.stack([it[0] for it in good])  # type: ignore[misc]
        else:
            images = torch.empty((0, 3, 0, 0), dtype=torch.uint8)
        return Batch(
            images,
            multi_hot([it[1] for it in good], self.num_tags),
            torch.tensor([it[2] for it in good], dtype=torch.long),
            skipped,
            torch.tensor([it[3] for it in good], dtype=torch.long),
        )


class EpochSampler(Sampler):
    """Indices for one process, tagged with the epoch, optionally starting mid-epoch (resume).

    Training: DistributedSampler's seeded shuffle and padding, so every process gets the same
    number of batches. Evaluation: a plain unpadded stride, so each image is scored once.
    """

    def __init__(self, n: int, *, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1):
        self.n = n
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start = 0
        self.inner: DistributedSampler | None = None
        if shuffle:
            self.inner = DistributedSampler(
                range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
            )

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Choose the epoch's permutation; `start` skips samples already trained on before a resume."""
        self.epoch = epoch
        self.start = start
        if self.inner is not None:
            self.inner.set_epoch(epoch)

    def _indices(self) -> Iterator[int]:
        if self.inner is not None:
            return iter(self.inner)
        return iter(range(self.rank, self.n, self.world_size))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i, index in enumerate(self._indices()):
            if i >= self.start:
                yield index, self.epoch

    def __len__(self) -> int:
        total = len(self.inner) if self.inner is not None else len(range(self.rank, self.n, self.world_size))
        return max(0, total - self.start)


def default_workers(world_size: int = 1) -> int:
    """Half the cores of each process, at most 8: decoding a batch costs far less than the model's
    pass over it, and OpenMP threads fighting workers for cores is what makes CPU training crawl
    (measured on 2 cores: 2 threads + 1 worker ran the feature pass 3.5x faster than 2 + 2)."""
    return max(1, min(8, cpu_cores() // max(1, world_size) // 2))


def _ignore_sigint(_worker_id: int) -> None:
    # Ctrl-C is the main process's business: it finishes the step, saves and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_image_loader(
    records: Sequence[Record],
    vocabulary: Sequence[str],
    transform: EvalTransform,
    *,
    batch_size: int,
    train: bool,
    seed: int = 0,
    workers: int | None = None,
    device: str = "cpu",
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A DataLoader of `Batch`es: worker processes, persistent workers, pinned memory on GPU,
    a seeded (Distributed)Sampler; `loader.sampler.set_epoch(epoch, start)` before each epoch."""
    dataset = ImageTagDataset(records, vocabulary, transform, seed=seed)
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed, rank=rank, world_size=world_size)
    workers = default_workers(world_size) if workers is None else workers
    # Drop a ragged last batch in training (a batch of 1 breaks BatchNorm), unless that is all there is.
    drop_last = train and len(sampler) > batch_size
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=dataset.collate,
        pin_memory=str(device).startswith("cuda"),
        drop_last=drop_last,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=_ignore_sigint if workers > 0 else None,
        # Its own generator: creating an iterator must not consume the global RNG (exact resume).
        generator=torch.Generator().manual_seed(seed),
    )


class TensorBatches:
    """Batches of in-memory features (the frozen-backbone cache) with the same sampler semantics."""

    def __init__(
        self,
        features: torch.Tensor,
        ids: Sequence[Sequence[int]],
        n_true: Sequence[int],
        num_tags: int,
        *,
        batch_size: int,
        train: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.features = features
        self.targets = multi_hot(ids, num_tags)
        self.n_true = torch.tensor(list(n_true), dtype=torch.long)
        self.batch_size = batch_size
        self.sampler = EpochSampler(len(features), shuffle=train, seed=seed, rank=rank, world_size=world_size)
        self.drop_last = train and len(self.sampler) > batch_size

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = [i for i, _ in self.sampler]
        for b in range(len(self)):
            idx = torch.tensor(order[b * self.batch_size : (b + 1) * self.batch_size], dtype=torch.long)
            yield Batch(self.features[idx], self.targets[idx], self.n_true[idx], 0, idx)
