"""Samplers: which indices, in which order, grouped into which batches."""

from ...creation import randperm


class Sampler:
    """Iterates over dataset indices."""

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation every epoch, drawn from ``generator`` (default: the global one,
    so ``jitgrad.manual_seed`` makes the order reproducible)."""

    def __init__(self, data_source, generator=None):
        self.data_source = data_source
        self.generator = generator

    def permutation(self):
        return randperm(len(self.data_source), generator=self.generator).numpy()

    def __iter__(self):
        return iter(self.permutation().tolist())

    def __len__(self):
        return len(self.data_source)


class BatchSampler(Sampler):
    """Groups a sampler's indices into lists of ``batch_size`` (the last one may be short)."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
