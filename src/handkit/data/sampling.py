"""Index samplers for training: the seeds' with-replacement draw, made resumable and DDP-aware.

PeCLR and SiMHand train on a `ConcatDataset` drawn by `WeightedRandomSampler(1/len(source),
replacement=True)`: every "epoch" draws N indices with replacement and the sources are balanced
(specs/pretrain.md §1.7). `BalancedResampler` draws the same distribution, but from a generator
seeded by (seed, epoch), so a resumed run draws what the uninterrupted run drew, and each DDP
rank takes its own slice of one global draw (no rank sees another's indices).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler

__all__ = ["BalancedResampler", "EpochShuffle"]


class BalancedResampler(Sampler[int]):
    """Draw `num_samples` indices per epoch, with replacement, each source equally likely.

    Args:
        source_sizes: length of each concatenated source (indices run source by source).
        num_samples: draws per epoch over all ranks; default the total length (the seeds' choice).
        seed: base seed; epoch e draws from a generator seeded with (seed, e).
        rank, world_size: this process's slice of the global draw (every `world_size`-th index).
    """

    def __init__(self, source_sizes: Sequence[int], num_samples: int | None = None, *,
                 seed: int = 5, rank: int = 0, world_size: int = 1):
        if not source_sizes or any(n <= 0 for n in source_sizes):
            raise ValueError(f"source_sizes: every source needs ≥ 1 sample, got {list(source_sizes)}.")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size}).")
        sizes = torch.tensor(list(source_sizes), dtype=torch.float64)
        self.weights = torch.repeat_interleave(1.0 / sizes, sizes.long())
        self.num_samples = int(num_samples or len(self.weights))
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning (and by hand) before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(range(self.rank, self.num_samples, self.world_size))

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        draw = torch.multinomial(self.weights, self.num_samples, replacement=True,
                                 generator=generator)
        return iter(draw[self.rank::self.world_size].tolist())


class EpochShuffle(Sampler[tuple[int, int]]):
    """A shuffled pass over ``range(n)`` per epoch that yields ``(epoch, index)`` keys.

    The dataset receives the epoch with the index, so per-item random draws (augmentation,
    composition) can be a pure function of (seed, epoch, index): new every epoch, identical for
    a resumed run (Lightning calls `set_epoch` before each epoch) and independent of the
    number of workers. The order comes from a generator seeded with (seed, epoch); each DDP rank
    takes every `world_size`-th key of it.

    Args:
        n: dataset length. seed: base seed. shuffle: False keeps 0..n-1.
        rank, world_size: this process's slice.
    """

    def __init__(self, n: int, *, seed: int = 5, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1):
        if n <= 0:
            raise ValueError(f"n: the dataset is empty ({n} samples).")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size}).")
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning (and by hand) before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=generator).tolist()
        else:
            order = list(range(self.n))
        return iter((self.epoch, i) for i in order[self.rank::self.world_size])
