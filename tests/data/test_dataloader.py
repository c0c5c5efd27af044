"""Datasets, DataLoader batching, shuffling, collation, random_split."""

import numpy as np
import pytest

import jitgrad as torch
from jitgrad.utils.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def _ds(n=10):
    x = torch.arange(n * 2).float().reshape(n, 2)
    y = torch.arange(n)
    return TensorDataset(x, y)


def test_tensor_dataset_indexing_and_size_mismatch():
    ds = _ds()
    x, y = ds[3]
    assert x.tolist() == [6.0, 7.0] and y.item() == 3 and len(ds) == 10
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(torch.zeros(3, 2), torch.zeros(4))


@pytest.mark.parametrize("drop_last,sizes", [(False, [4, 4, 2]), (True, [4, 4])])
def test_batching_in_order(drop_last, sizes):
    dl = DataLoader(_ds(), batch_size=4, drop_last=drop_last)
    batches = list(dl)
    assert len(dl) == len(sizes) == len(batches)
    assert [len(b[1]) for b in batches] == sizes
    assert torch.cat([b[1] for b in batches]).tolist() == list(range(sum(sizes)))
    xb, yb = batches[0]
    assert xb.shape == (4, 2) and xb.dtype == torch.float32 and yb.dtype == torch.int64


def test_shuffle_is_a_permutation_and_reproducible():
    def order(seed, gen=False):
        if gen:
            g = torch.Generator().manual_seed(seed)
            dl = DataLoader(_ds(50), batch_size=8, shuffle=True, generator=g)
        else:
            torch.manual_seed(seed)
            dl = DataLoader(_ds(50), batch_size=8, shuffle=True)
        return [i for _, y in dl for i in y.tolist()]

    a = order(0)
    assert sorted(a) == list(range(50)) and a != list(range(50))
    assert order(0) == a and order(1) != a
    assert order(5, gen=True) == order(5, gen=True)
    # consecutive epochs draw fresh permutations
    g = torch.Generator().manual_seed(3)
    dl = DataLoader(_ds(50), batch_size=50, shuffle=True, generator=g)
    e1, e2 = (next(iter(dl))[1].tolist() for _ in range(2))
    assert e1 != e2


def test_fast_path_matches_per_sample_collate():
    torch.manual_seed(0)
    ds = TensorDataset(torch.randn(20, 3), torch.randint(0, 5, (20,)))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    fast = list(DataLoader(ds, batch_size=6, shuffle=True, generator=g1))
    slow = list(
        DataLoader(ds, batch_size=6, shuffle=True, generator=g2, collate_fn=default_collate)
    )
    for (a, b), (c, d) in zip(fast, slow):
        assert np.array_equal(a.numpy(), c.numpy()) and np.array_equal(b.numpy(), d.numpy())


def test_fast_path_does_not_loop_per_sample():
    class Counting(TensorDataset):
        calls = 0

        def __getitem__(self, i):
            Counting.calls += 1
            return super().__getitem__(i)

    ds = Counting(torch.zeros(100, 2), torch.zeros(100))
    assert sum(len(b[0]) for b in DataLoader(ds, batch_size=32, shuffle=True)) == 100
    assert Counting.calls == 0


def test_default_collate_structures():
    class Pairs(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": torch.full((2,), float(i)), "n": i, "f": i / 2, "s": str(i)}, (i, [i])

    d, (ints, lst) = next(iter(DataLoader(Pairs(), batch_size=3)))
    assert d["x"].shape == (3, 2) and d["x"][2].tolist() == [2.0, 2.0]
    assert d["n"].dtype == torch.int64 and d["n"].tolist() == [0, 1, 2]
    assert d["f"].dtype == torch.float64 and d["s"] == ["0", "1", "2"]
    assert ints.tolist() == [0, 1, 2] and lst[0].tolist() == [0, 1, 2]


def test_batch_size_none_and_bad_batch_size():
    dl = DataLoader(_ds(3), batch_size=None)
    x, y = next(iter(dl))
    assert x.shape == (2,) and len(list(dl)) == 3
    with pytest.raises(ValueError, match="positive integer"):
        DataLoader(_ds(), batch_size=0)


def test_random_split_and_subset():
    g = torch.Generator().manual_seed(0)
    a, b = random_split(_ds(10), [7, 3], generator=g)
    assert isinstance(a, Subset) and len(a) == 7 and len(b) == 3
    ys = sorted([a[i][1].item() for i in range(7)] + [b[i][1].item() for i in range(3)])
    assert ys == list(range(10))
    a2, _ = random_split(_ds(10), [7, 3], generator=torch.Generator().manual_seed(0))
    assert a.indices == a2.indices
    f1, f2, f3 = random_split(range(10), [0.5, 0.3, 0.2])
    assert (len(f1), len(f2), len(f3)) == (5, 3, 2)
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(_ds(10), [5, 4])
    # a Subset of a TensorDataset is batched through the fast path with its own indices
    xb, yb = next(iter(DataLoader(Subset(_ds(10), [9, 0, 4]), batch_size=3)))
    assert yb.tolist() == [9, 0, 4]
