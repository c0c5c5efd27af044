"""``jitgrad.nn.parallel``: ``DistributedDataParallel`` (needs ``jitgrad.distributed`` set up)."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
