"""Pack millions of crops into LMDB shards; read them back at random or as a shuffled stream.

**Why LMDB + simplejpeg** (measured, docs/data.md and ``benchmarks/shard_storage.py``): random
reads are a B-tree lookup in a memory-mapped file, so a map-style reader, a shard-level shuffle
and a resumed epoch all cost the same as a sequential pass; webdataset-style tar is only fast
when read front to back and needs its own index for anything else. JPEG decoding dominates
either way, and simplejpeg (libjpeg-turbo) decodes about as fast as anything available.

Layout of a shard directory::

    <out>/index.json              options, shards [{name, start, stop, count}], skipped samples
    <out>/shard-00000.lmdb        one LMDB file per shard: key b"%08d" (0..count-1) → record
    ...

Shard k holds the good samples of source indices ``[k·S, (k+1)·S)``; a shard is written to a
temporary file, renamed when complete, then recorded in ``index.json`` (atomically), so an
interrupted `pack` resumes at the first unfinished shard and loses nothing.
"""

from __future__ import annotations

import bisect
import math
import os
import random
from pathlib import Path
from typing import Any, Iterator, Literal

import lmdb
import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from handkit.data.formats._base import BadSample, SkipReport, iter_good
from handkit.data.schema import Sample, SampleError
from handkit.data.shard_records import decode_sample, encode_sample
from handkit.utils.files import write_json

__all__ = ["pack", "ShardReader", "ShardStream", "read_index"]

_INDEX = "index.json"
_MAP_SIZE = 1 << 40  # sparse on Linux/macOS: only what is written takes disk space


def _key(i: int) -> bytes:
    return b"%08d" % i


def _write_index(out: Path, index: dict) -> None:
    write_json(out / _INDEX, index)


def read_index(path: str | Path) -> dict:
    """The ``index.json`` of a shard directory (FileNotFoundError / SampleError naming it)."""
    from handkit.data.formats._io import read_json

    index = read_json(Path(path) / _INDEX, "shard index")
    for key in ("shards", "codec", "shard_size"):
        if key not in index:
            raise SampleError(f"{Path(path) / _INDEX}: {key}: missing.")
    return index


def pack(dataset: Dataset, out: str | Path, *, shard_size: int = 10_000,
         codec: Literal["jpeg", "png"] = "jpeg", quality: int = 95, num_workers: int = 0,
         progress: bool = True, source: str = "") -> SkipReport:
    """Write every good sample of `dataset` into shards under `out`, resuming if interrupted.

    Args:
        dataset: map-style dataset of `Sample`s (e.g. `formats.open_dataset(...)`).
        out: output directory (created). If it holds an unfinished packing with the same
            options, packing resumes; with other options it is an error.
        shard_size: source samples per shard.
        codec: image storage, ``jpeg`` (lossy) or ``png`` (lossless).
        quality: JPEG quality.
        num_workers: DataLoader workers that load samples (encoding stays in this process).
        progress: show a tqdm bar.
        source: a description stored in the index (e.g. ``"freihand:/data/FreiHAND"``).

    Returns:
        A `SkipReport` of every sample skipped (this run and earlier runs), by reason.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size: expected ≥ 1, got {shard_size}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = len(dataset)  # type: ignore[arg-type]
    options = {"version": 1, "codec": codec, "quality": quality, "shard_size": shard_size,
               "source_len": total, "source": source}
    if (out / _INDEX).is_file():
        index = read_index(out)
        clash = {k: (index.get(k), v) for k, v in options.items()
                 if index.get(k) != v and k != "source"}
        if clash:
            raise ValueError(f"{out / _INDEX}: an earlier packing used other options "
                             f"({clash}: (then, now)); use a new --out directory.")
    else:
        index = {**options, "shards": [], "skipped": [], "complete": False}
    report = SkipReport()
    report.add(*(BadSample(**b) for b in index["skipped"]))
    num_shards = math.ceil(total / shard_size)
    done = len(index["shards"])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=min(done * shard_size, total), unit="sample",
                   desc=f"pack {out.name}")
    for k in range(done, num_shards):
        start, stop = k * shard_size, min((k + 1) * shard_size, total)
        name = f"shard-{k:05d}.lmdb"
        tmp = out / (name + ".tmp")
        for stale in (tmp, out / (tmp.name + "-lock")):
            stale.unlink(missing_ok=True)
        shard_report = SkipReport()
        env = lmdb.open(str(tmp), map_size=_MAP_SIZE, subdir=False, lock=False,
                        readahead=False, meminit=False)
        count = 0
        txn = env.begin(write=True)
        for i, sample in _load(dataset, range(start, stop), shard_report, num_workers):
            try:
                record = encode_sample(sample, codec=codec, quality=quality)
            except SampleError as err:
                shard_report.add(BadSample(i, sample.sample_id, str(err)))
                continue
            txn.put(_key(count), record)
            count += 1
            if count % 1000 == 0:
                txn.commit()
                txn = env.begin(write=True)
            if bar is not None:
                bar.update(1)
        txn.commit()
        env.sync()
        env.close()
        os.replace(tmp, out / name)
        if bar is not None:
            bar.update(shard_report.count)
        index["shards"].append({"name": name, "start": start, "stop": stop, "count": count})
        index["skipped"] += [b.__dict__ for b in shard_report.bad]
        report.add(*shard_report.bad)
        _write_index(out, index)
    index["complete"] = True
    _write_index(out, index)
    if bar is not None:
        bar.close()
    return report


def _first(items: list) -> Any:
    return items[0]


def _load(dataset: Dataset, indices: range, report: SkipReport, num_workers: int):
    """(index, Sample) for each good index, in order; failures go to `report`."""
    if num_workers <= 0:
        yield from iter_good(dataset, report, indices)
        return
    from torch.utils.data import DataLoader, Subset

    from handkit.data.formats._base import SkipBadSamples

    loader = DataLoader(Subset(SkipBadSamples(dataset), list(indices)), batch_size=1,
                        num_workers=num_workers, collate_fn=_first)
    for offset, item in enumerate(loader):
        if isinstance(item, BadSample):
            report.add(item)
        else:
            yield indices[offset], item


class _Shards:
    """Open LMDB environments lazily, once per process (safe across DataLoader forks)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.index = read_index(self.path)
        if not self.index.get("complete", False):
            raise ValueError(f"{self.path / _INDEX}: packing is not complete; rerun "
                             "`handkit pack` with the same options to finish it.")
        self.counts = [int(s["count"]) for s in self.index["shards"]]
        self.starts = [0]
        for c in self.counts:
            self.starts.append(self.starts[-1] + c)
        self._envs: dict[int, lmdb.Environment] = {}
        self._pid = -1

    def get(self, shard: int, key: int) -> bytes:
        if self._pid != os.getpid():
            self._envs, self._pid = {}, os.getpid()
        env = self._envs.get(shard)
        if env is None:
            file = self.path / self.index["shards"][shard]["name"]
            if not file.is_file():
                raise FileNotFoundError(f"{file}: missing (shard {shard} of {self.path}).")
            env = lmdb.open(str(file), subdir=False, readonly=True, lock=False, readahead=False,
                            meminit=False)
            self._envs[shard] = env
        with env.begin(buffers=False) as txn:
            value = txn.get(_key(key))
        if value is None:
            raise SampleError(f"{self.index['shards'][shard]['name']}: key {key}: missing.")
        return value

    def where(self, shard: int, key: int) -> str:
        return f"{self.path / self.index['shards'][shard]['name']}[{key}]"


class ShardReader(Dataset):
    """Map-style random access to a packed shard directory: ``reader[i]`` is a `Sample`."""

    def __init__(self, path: str | Path):
        self.shards = _Shards(path)

    def __len__(self) -> int:
        return self.shards.starts[-1]

    def locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples.")
        shard = bisect.bisect_right(self.shards.starts, index) - 1
        return shard, index - self.shards.starts[shard]

    def sample_id(self, index: int) -> str:
        return self.shards.where(*self.locate(index))

    def __getitem__(self, index: int) -> Sample:
        shard, key = self.locate(int(index))
        return decode_sample(self.shards.get(shard, key), where=self.shards.where(shard, key))


class ShardStream(IterableDataset):
    """A shuffled, endless-safe stream over packed shards with flat memory.

    Each epoch visits every stored sample exactly once across all consumers (DDP ranks ×
    DataLoader workers). The global order is: shards in a permutation drawn from (seed, epoch),
    each shard's keys in a permutation drawn from (seed, epoch, shard). Consumer c of C takes
    positions c, c + C, ... of that order, so all consumers read the same shard at the same
    time (page-cache friendly) and none holds more than one shard's key permutation plus the
    shuffle buffer of `buffer_size` decoded samples.

    Args:
        path: shard directory written by `pack`.
        shuffle: False gives shards and keys in stored order (and no buffer).
        buffer_size: samples held by the local shuffle buffer (memory bound).
        seed: base seed; call `set_epoch(e)` before each epoch for a new order.
        rank, world_size: DDP position; default from torch.distributed if initialised.
        drop_last: drop the tail of the global order so that every consumer yields the same
            count (needed by DDP); default True iff world_size > 1.

    Yields:
        `Sample`s, and a `BadSample` for each corrupt record (use
        `formats.collate_skip_bad`, which drops and reports them).
    """

    def __init__(self, path: str | Path, *, shuffle: bool = True, buffer_size: int = 1000,
                 seed: int = 0, rank: int | None = None, world_size: int | None = None,
                 drop_last: bool | None = None):
        self.shards = _Shards(path)
        if rank is None or world_size is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            rank, world_size = (dist.get_rank(), dist.get_world_size()) if ready else (0, 1)
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size}).")
        self.shuffle, self.buffer_size, self.seed = shuffle, max(1, buffer_size), seed
        self.rank, self.world_size = rank, world_size
        self.drop_last = world_size > 1 if drop_last is None else drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _consumers(self) -> tuple[int, int]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return self.rank * workers + worker, self.world_size * workers

    def _limit(self, consumers: int) -> int:
        total = self.shards.starts[-1]
        return total - total % consumers if self.drop_last else total

    def __len__(self) -> int:
        """Samples this rank yields per epoch (over all its workers)."""
        total = self._limit(self.world_size)
        return len(range(self.rank, total, self.world_size))

    def _order(self) -> Iterator[tuple[int, int]]:
        """The global (shard, key) order of this epoch, generated lazily."""
        counts = self.shards.counts
        shard_order = list(range(len(counts)))
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + self.epoch).shuffle(shard_order)
        for shard in shard_order:
            keys = np.arange(counts[shard])
            if self.shuffle:
                np.random.default_rng([self.seed, self.epoch, shard]).shuffle(keys)
            for key in keys:
                yield shard, int(key)

    def __iter__(self) -> Iterator[Sample | BadSample]:
        consumer, consumers = self._consumers()
        limit = self._limit(consumers)
        rng = random.Random((self.seed * 1_000_003 + self.epoch) * 4099 + consumer)
        buffer: list[Sample | BadSample] = []
        for position, (shard, key) in enumerate(self._order()):
            if position >= limit:
                break
            if position % consumers != consumer:
                continue
            item = self._decode(shard, key)
            if not self.shuffle:
                yield item
                continue
            if len(buffer) < self.buffer_size:
                buffer.append(item)
                continue
            slot = rng.randrange(len(buffer))
            yield buffer[slot]
            buffer[slot] = item
        rng.shuffle(buffer)
        yield from buffer

    def _decode(self, shard: int, key: int) -> Sample | BadSample:
        where = self.shards.where(shard, key)
        try:
            return decode_sample(self.shards.get(shard, key), where=where)
        except (SampleError, OSError) as err:
            return BadSample(self.shards.starts[shard] + key, where, str(err))
