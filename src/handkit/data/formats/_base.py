"""The base of every format loader and the long-run skip-bad-samples policy.

`FormatDataset` is a torch map-style Dataset whose ``__getitem__`` returns a validated `Sample`;
a subclass implements ``__len__`` and ``_load(index) -> (Sample, source_file)``.

Long runs (training, packing) wrap a dataset in `SkipBadSamples`: a sample that fails to load
becomes a `BadSample` (index, sample_id, reason) instead of an exception; `collate_skip_bad`
drops those from the batch and hands them on under ``batch["skipped"]``, and a `SkipReport`
counts them by reason and prints the total at the end. This works with DataLoader workers,
because the record of a skip travels with the batch instead of living in a worker's memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

from torch.utils.data import Dataset

from handkit.data.schema import Sample, SampleError, collate

__all__ = ["FormatDataset", "BadSample", "SkipBadSamples", "collate_skip_bad", "SkipReport",
           "LOAD_ERRORS", "iter_good"]

LOAD_ERRORS = (SampleError, ValueError, OSError)
"""What a bad sample raises: SampleError/ValueError (bad content) or OSError (missing file)."""


class FormatDataset(Dataset):
    """Base class: ``__getitem__`` = ``_load`` + ``Sample.validate(source)``."""

    name: str = ""

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load(self, index: int) -> tuple[Sample, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample_id(self, index: int) -> str:
        """A cheap id for error reports (no file is read); subclasses refine it."""
        return f"{self.name}[{index}]"

    def __getitem__(self, index: int) -> Sample:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name}: index {index} out of range for {len(self)} samples.")
        sample, source = self._load(index % len(self))
        return sample.validate(source)


@dataclass(frozen=True)
class BadSample:
    """A sample that could not be loaded: where it was and why."""

    index: int
    sample_id: str
    reason: str

    @property
    def kind(self) -> str:
        """The reason without the file name, for counting ("image: cannot decode ...")."""
        parts = self.reason.split(": ", 1)
        return parts[1] if len(parts) == 2 else self.reason


class SkipBadSamples(Dataset):
    """Wrap a dataset so that a failing ``__getitem__`` yields a `BadSample` instead of raising.

    Args:
        dataset: any map-style dataset of `Sample`s (usually a `FormatDataset`).

    Only load errors (`LOAD_ERRORS`) are caught: a bug (TypeError, KeyError...) still raises.
    In the main process the skips are also counted on ``self.report``.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.report = SkipReport()

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Sample | BadSample:
        try:
            return self.dataset[index]
        except LOAD_ERRORS as err:
            sid = getattr(self.dataset, "sample_id", lambda i: str(i))(index)
            bad = BadSample(int(index), sid, str(err))
            self.report.add(bad)
            return bad


def collate_skip_bad(items: list[Sample | BadSample]) -> dict[str, Any]:
    """`schema.collate` over the good samples; the bad ones go to ``batch["skipped"]``.

    A batch where every sample is bad has only ``skipped`` (and ``size`` 0).
    """
    good = [s for s in items if isinstance(s, Sample)]
    bad = [s for s in items if isinstance(s, BadSample)]
    batch = collate(good) if good else {}
    batch["skipped"] = bad
    batch["size"] = len(good)
    return batch


class SkipReport:
    """Counts skipped samples by reason; `summary()` is printed at the end of a long run."""

    def __init__(self) -> None:
        self.bad: list[BadSample] = []

    def add(self, *bad: BadSample) -> None:
        self.bad.extend(bad)

    def update(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Record ``batch["skipped"]`` and return the batch (use inline in a loop)."""
        self.add(*batch.get("skipped", ()))
        return batch

    @property
    def count(self) -> int:
        return len(self.bad)

    def by_reason(self) -> Counter:
        return Counter(b.kind for b in self.bad)

    def summary(self, limit: int = 5) -> str:
        if not self.bad:
            return "skipped 0 bad samples."
        lines = [f"skipped {self.count} bad sample(s):"]
        for reason, n in self.by_reason().most_common(limit):
            lines.append(f"  {n} × {reason}")
        lines.append("  first: " + "; ".join(f"{b.sample_id}: {b.reason}" for b in self.bad[:3]))
        return "\n".join(lines)


def iter_good(dataset: Dataset, report: SkipReport, indices: Iterable[int]):
    """Yield (index, Sample) for each index, recording failures in `report` (for packers)."""
    for index in indices:
        try:
            yield index, dataset[index]
        except LOAD_ERRORS as err:
            sid = getattr(dataset, "sample_id", lambda i: str(i))(index)
            report.add(BadSample(int(index), sid, str(err)))
