"""Datasets and batching: ``Dataset``, ``TensorDataset``, ``DataLoader``, ``random_split``.

>>> ds = TensorDataset(x, y)
>>> for xb, yb in DataLoader(ds, batch_size=64, shuffle=True): ...
"""

from .dataloader import DataLoader, default_collate, default_convert
from .dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .distributed import DistributedSampler
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)


def get_worker_info():
    """None: data loading runs in the main process (there are no worker processes)."""
    return None


__all__ = [
    "Dataset",
    "TensorDataset",
    "Subset",
    "ConcatDataset",
    "random_split",
    "DataLoader",
    "default_collate",
    "default_convert",
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "BatchSampler",
    "DistributedSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "IterableDataset",
    "ChainDataset",
    "StackDataset",
    "get_worker_info",
]
