"""``DistributedSampler``: each rank reads its own shard of a dataset, as PyTorch partitions it.

The shuffled order is PyTorch's exactly: ``torch.randperm(n, generator=g)`` with ``g`` seeded
``seed + epoch``. torch's CPU generator is a 32-bit Mersenne Twister (MT19937, seeded with the
classic ``init_genrand`` on the low 32 bits of the seed) and its ``randperm`` for
``n < 2**32 / 20`` is the forward Fisher-Yates shuffle ``swap(r[i], r[i + u32() % (n - i)])``.
NumPy's ``MT19937`` bit generator produces the same 32-bit stream once its key is set the same
way, so no torch is needed.
"""

import math

import numpy as np

from .sampler import Sampler

_MT_N = 624


def _mt19937_key(seed):
    """The 624-word MT19937 state ``init_genrand(seed & 0xffffffff)`` produces (torch's seeding)."""
    key = np.empty(_MT_N, dtype=np.uint32)
    x = int(seed) & 0xFFFFFFFF
    key[0] = x
    for i in range(1, _MT_N):
        x = (1812433253 * (x ^ (x >> 30)) + i) & 0xFFFFFFFF
        key[i] = x
    return key


def _mt19937(seed):
    """A NumPy MT19937 bit generator in the state torch's ``Generator.manual_seed(seed)`` sets."""
    bg = np.random.MT19937(0)
    bg.state = {"bit_generator": "MT19937", "state": {"key": _mt19937_key(seed), "pos": _MT_N}}
    return bg


def torch_randperm(n, seed):
    """``torch.randperm(n, generator=g).tolist()``, ``g`` seeded ``seed``, without torch."""
    n = int(n)
    if n >= (2**32 - 1) // 20:
        raise NotImplementedError(
            f"torch_randperm: n={n} uses torch's 64-bit randperm path, which is not reproduced"
        )
    r = list(range(n))
    if n < 2:
        return r
    draws = _mt19937(seed).random_raw(n - 1).tolist()  # one 32-bit draw per swap
    for i in range(n - 1):
        z = i + draws[i] % (n - i)
        r[i], r[z] = r[z], r[i]
    return r


class DistributedSampler(Sampler):
    """Indices of this rank's shard: ``DistributedSampler(ds, num_replicas=2, rank=0, seed=0)``.

    Call ``set_epoch(e)`` before each epoch so every epoch shuffles differently (same on every
    rank). Without ``drop_last`` the index list is padded by wrapping around so every rank gets
    ``ceil(len(ds) / num_replicas)`` samples; with it, the tail is dropped instead.
    """

    def __init__(
        self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False
    ):
        if num_replicas is None or rank is None:
            from ... import distributed as dist

            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def _all_indices(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = torch_randperm(n, self.seed + self.epoch)
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            else:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[: self.total_size]
        assert len(indices) == self.total_size
        return indices

    def __iter__(self):
        indices = self._all_indices()[self.rank : self.total_size : self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Shuffle with ``seed + epoch`` from now on (call once per epoch on every rank)."""
        self.epoch = epoch


__all__ = ["DistributedSampler", "torch_randperm"]
