"""Datasets and batching: ``Dataset``, ``TensorDataset``, ``DataLoader``, ``random_split``.

>>> ds = TensorDataset(x, y)
>>> for xb, yb in DataLoader(ds, batch_size=64, shuffle=True): ...
"""

from .dataloader import DataLoader, default_collate
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = [
    "Dataset",
    "TensorDataset",
    "Subset",
    "ConcatDataset",
    "random_split",
    "DataLoader",
    "default_collate",
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "BatchSampler",
    "DistributedSampler",
]
