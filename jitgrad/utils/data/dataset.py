"""Map-style datasets."""

import bisect
import math

import numpy as np

from ...tensor import Tensor


class Dataset:
    """A map-style dataset: subclasses implement ``__getitem__(i)`` and ``__len__()``.

    A dataset may also implement ``_get_batch(indices)`` (a NumPy int64 array) returning a
    whole collated batch; ``DataLoader`` then skips the per-sample Python loop.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


def _batch_index(indices):
    from ...creation import from_numpy

    return from_numpy(np.ascontiguousarray(indices, dtype=np.int64))


class TensorDataset(Dataset):
    """Samples are ``(t[i] for t in tensors)``; every tensor has the same first dimension.

    >>> ds = TensorDataset(jitgrad.randn(100, 3), jitgrad.arange(100))
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        for t in tensors:
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset expects tensors, got {type(t).__name__}")
            if t.dim() == 0:
                raise ValueError("TensorDataset: 0-d tensors have no samples to index")
        sizes = [t.size(0) for t in tensors]
        if any(s != sizes[0] for s in sizes):
            from ..._errors import ValueAssertionError

            raise ValueAssertionError(
                f"Size mismatch between tensors: first dimensions are {sizes}; "
                "every tensor must hold the same number of samples"
            )
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].size(0)

    def _get_batch(self, indices):
        idx = _batch_index(indices)
        return tuple(t[idx] for t in self.tensors)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)

    def __getattr__(self, name):
        base = self.__dict__.get("dataset")
        if name == "_get_batch" and base is not None and hasattr(base, "_get_batch"):
            ind = np.asarray(self.indices, dtype=np.int64)
            return lambda indices: base._get_batch(ind[np.asarray(indices)])
        raise AttributeError(name)


class ConcatDataset(Dataset):
    """Several datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            from ..._errors import ValueAssertionError

            raise ValueAssertionError("datasets should not be an empty iterable")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self):
        return int(self.cumulative_sizes[-1]) if self.cumulative_sizes else 0

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = 0 if d == 0 else int(self.cumulative_sizes[d - 1])
        return self.datasets[d][idx - start]


def random_split(dataset, lengths, generator=None):
    """Split into non-overlapping random subsets; ``lengths`` are sizes or fractions summing
    to 1. ``generator`` (default: the global one) makes it reproducible."""
    from ...creation import randperm

    n = len(dataset)
    lengths = list(lengths)
    if (
        math.isclose(sum(lengths), 1)
        and sum(lengths) <= 1
        and any(isinstance(x, float) for x in lengths)
    ):
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(
            f"Sum of input lengths ({sum(lengths)}) does not equal the length of "
            f"the input dataset ({n})"
        )
    perm = randperm(n, generator=generator).tolist()
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[offset : offset + length]))
        offset += length
    return out


class IterableDataset(Dataset):
    """A dataset that is iterated (``__iter__``) rather than indexed; DataLoader batches
    consecutive items."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __getitem__(self, index):
        raise NotImplementedError("an IterableDataset is iterated, not indexed")

    def __add__(self, other):
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Iterate several iterable datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


class StackDataset(Dataset):
    """Samples from several datasets of one length, as a tuple (or a dict with keywords)."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError(
                "Supported either ``tuple``- (via ``args``) or``dict``- (via "
                "``kwargs``) like input/output, but both types are given."
            )
        self._args, self._kwargs = args, kwargs
        lens = {len(d) for d in (args or tuple(kwargs.values()))}
        if len(lens) > 1:
            raise ValueError("Size mismatch between datasets")
        self._length = lens.pop() if lens else 0

    def __getitem__(self, index):
        if self._kwargs:
            return {k: d[index] for k, d in self._kwargs.items()}
        return tuple(d[index] for d in self._args)

    def __len__(self):
        return self._length
