"""``DataLoader``: batches of a dataset, optionally shuffled, collated into tensors."""

import collections.abc
import numbers

import numpy as np

from ...tensor import Tensor
from .sampler import BatchSampler, RandomSampler, SequentialSampler


def default_collate(batch):
    """Stack a list of samples: tensors → stacked tensor, numbers → 1-d tensor, tuples/dicts
    → collated element-wise, strings → list."""
    from ... import creation
    from ...ops.movement import stack

    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        for i, b in enumerate(batch):
            if np.shape(b) != elem.shape:
                raise RuntimeError(
                    "default_collate: stack expects each tensor to be equal size, but got "
                    f"{list(elem.shape)} at entry 0 and {list(np.shape(b))} at entry {i}; pad the "
                    "samples or pass collate_fn="
                )
        return creation.tensor(np.stack(batch))
    if isinstance(elem, (bool, np.bool_)):
        return creation.tensor(list(batch))
    if isinstance(elem, np.generic) and elem.dtype.kind in "biuf":
        return creation.tensor(np.asarray(batch))  # NumPy scalars keep their dtype, as torch's
    if isinstance(elem, numbers.Integral):
        return creation.tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return creation.tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {k: default_collate([d[k] for d in batch]) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        n = len(elem)
        if any(len(s) != n for s in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]  # a list, like torch
    raise TypeError(
        f"default_collate: batch must contain tensors, NumPy arrays, numbers, "
        f"dicts or lists; found {type(elem).__name__}"
    )


def default_convert(data):
    """Turn NumPy arrays and scalars in a sample into tensors (the ``collate_fn`` of
    ``DataLoader(batch_size=None)``); containers keep their structure."""
    from ... import creation

    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)) and data.dtype.kind in "biuf":
        return creation.from_numpy(data) if isinstance(data, np.ndarray) else creation.tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # torch turns plain tuples into lists
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


class DataLoader:
    """Iterate over ``dataset`` in batches.

    >>> loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    >>> for xb, yb in loader: ...

    A dataset with a ``_get_batch(indices)`` method (``TensorDataset``, ``MNIST``, their
    ``Subset``s) is indexed a whole batch at a time when ``collate_fn`` is not given.
    ``num_workers`` is accepted for compatibility; loading runs in this process.
    """

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=False,
        sampler=None,
        batch_sampler=None,
        num_workers=0,
        collate_fn=None,
        pin_memory=False,
        drop_last=False,
        generator=None,
        **_compat,
    ):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative")
        self.dataset = dataset
        self.num_workers = num_workers
        self.generator = generator
        from .dataset import IterableDataset

        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle or sampler is not None or batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle, sampler and "
                    "batch_sampler options"
                )
            self.batch_size, self.drop_last = batch_size, drop_last
            self.sampler = self.batch_sampler = None
            self._custom_collate = collate_fn is not None
            self.collate_fn = collate_fn or (
                default_collate if batch_size is not None else default_convert
            )
            return
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, "
                    "shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with "
                "drop_last"
            )
        if sampler is None:
            sampler = (
                RandomSampler(dataset, generator=generator)
                if shuffle
                else SequentialSampler(dataset)
            )
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.collate_fn = collate_fn
        self._custom_collate = collate_fn is not None
        if collate_fn is None:
            self.collate_fn = default_collate if batch_size is not None else default_convert

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)  # TypeError when the iterable dataset has no length
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def _iter_iterable(self, ds):
        if self.batch_size is None:
            for item in ds:
                yield self.collate_fn(item)
            return
        batch = []
        for item in ds:
            batch.append(item)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def _index_batches(self):
        """Batches of indices as NumPy arrays, without a Python loop per sample when possible."""
        bs = self.batch_sampler
        if type(bs) is BatchSampler and type(bs.sampler) in (SequentialSampler, RandomSampler):
            n = len(bs.sampler)
            order = (
                bs.sampler.permutation() if isinstance(bs.sampler, RandomSampler) else np.arange(n)
            )
            stop = n - n % bs.batch_size if bs.drop_last else n
            for s in range(0, stop, bs.batch_size):
                yield order[s : s + bs.batch_size]
        else:
            for b in bs:
                yield b

    def __iter__(self):
        return _LoaderIter(self, self._batches())

    def _batches(self):
        ds = self.dataset
        if self._iterable:
            yield from self._iter_iterable(ds)
            return
        if self.batch_sampler is None:  # batch_size=None: samples one by one
            for i in self.sampler:
                yield self.collate_fn(ds[i])
            return
        fast = not self._custom_collate and hasattr(ds, "_get_batch")
        for idx in self._index_batches():
            if fast:
                b = ds._get_batch(np.asarray(idx, dtype=np.int64))
                yield list(b) if isinstance(b, tuple) else b
            else:
                idx = idx.tolist() if isinstance(idx, np.ndarray) else idx
                yield self.collate_fn([ds[i] for i in idx])


class _LoaderIter:
    """``iter(loader)``: its batches, with ``len()`` as torch's single-process iterator."""

    __slots__ = ("_loader", "_gen")

    def __init__(self, loader, gen):
        self._loader, self._gen = loader, gen

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._gen)

    def __len__(self):
        return len(self._loader)
