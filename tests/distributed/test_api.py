"""jitgrad.distributed and DistributedSampler in this process, without starting MPI."""

import sys

import pytest

import jitgrad
import jitgrad.distributed as dist
from jitgrad.nn.parallel import DistributedDataParallel
from jitgrad.utils.data import DistributedSampler
from jitgrad.utils.data.distributed import torch_randperm

NOT_INIT = (
    "Default process group has not been initialized, please make sure to call init_process_group."
)


@pytest.mark.parametrize(
    "call",
    [
        lambda: dist.get_rank(),
        lambda: dist.get_world_size(),
        lambda: dist.barrier(),
        lambda: dist.all_reduce(jitgrad.ones(2)),
        lambda: dist.broadcast(jitgrad.ones(2), 0),
        lambda: dist.all_gather([jitgrad.ones(2)], jitgrad.ones(2)),
        lambda: DistributedDataParallel(jitgrad.nn.Linear(2, 2)),
        lambda: DistributedSampler(list(range(4))),
    ],
)
def test_collective_before_init_raises_torchs_error(call):
    assert not dist.is_initialized()
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == NOT_INIT


def test_destroy_before_init():
    with pytest.raises(AssertionError, match="Process group cannot be None"):
        dist.destroy_process_group()


def test_unsupported_backends_and_init_methods_say_what_works():
    with pytest.raises(
        ValueError, match="backend 'nccl' is not available in jitgrad; use backend='mpi'"
    ):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="init_method 'tcp://h:1' is not supported"):
        dist.init_process_group("mpi", init_method="tcp://h:1")
    assert not dist.is_initialized()


def test_without_mpi4py_init_names_the_dist_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    assert dist.is_available() is False
    with pytest.raises(ImportError, match=r'pip install -e "\.\[dist\]"'):
        dist.init_process_group("mpi")


def test_reduce_op_names():
    assert repr(dist.ReduceOp.SUM) == "<RedOpType.SUM: 0>"
    assert str(dist.ReduceOp.MAX) == "RedOpType.MAX"
    assert {dist.ReduceOp.SUM, dist.ReduceOp.AVG, dist.ReduceOp.MIN, dist.ReduceOp.MAX} <= set(
        dist.RedOpType
    )


def test_torch_randperm_reproduces_torch():
    """Expected values printed by torch 2.13: torch.randperm(n, generator=g), g.manual_seed(s).

    torch's CPU generator is MT19937 (init_genrand on the seed's low 32 bits); randperm is
    Fisher-Yates with ``u32 % (n - i)``. Checked against torch for seeds 0, 1, 2, 7, 42, 123,
    2**31-1, 2**32+5, 10**12 and n in 0..60000 when this was written.
    """
    assert torch_randperm(10, 0) == [4, 1, 7, 5, 3, 9, 0, 8, 6, 2]
    assert torch_randperm(7, 42) == [1, 6, 3, 5, 4, 0, 2]
    assert torch_randperm(8, 5) == [3, 6, 0, 2, 1, 4, 5, 7]
    assert torch_randperm(8, 2**32 + 5) == torch_randperm(8, 5)  # only the low 32 bits count
    p = torch_randperm(1000, 123)
    assert p[:12] == [382, 974, 946, 31, 512, 42, 918, 564, 827, 227, 261, 737]
    assert sum(i * v for i, v in enumerate(p)) == 243830905
    assert torch_randperm(0, 3) == [] and torch_randperm(1, 3) == [0]


# torch 2.13's DistributedSampler(list(range(n)), num_replicas=R, rank=r, shuffle, seed,
# drop_last) after set_epoch(epoch): {(R, n, shuffle, seed, epoch, drop_last): [shard per rank]}
TORCH = {
    (2, 11, False, 0, 0, False): [[0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9, 0]],
    (3, 11, False, 0, 0, False): [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 0]],
    (2, 23, True, 42, 5, False): [
        [7, 1, 10, 15, 21, 16, 3, 8, 9, 13, 6, 19],
        [5, 0, 18, 14, 11, 2, 22, 17, 12, 20, 4, 7],
    ],
    (3, 23, True, 42, 5, False): [
        [7, 0, 15, 11, 3, 17, 13, 4],
        [5, 10, 14, 16, 22, 9, 20, 19],
        [1, 18, 21, 2, 8, 12, 6, 7],
    ],
    (3, 10, True, 7, 1, True): [[3, 1, 4], [5, 2, 7], [0, 6, 8]],
}


@pytest.mark.parametrize("key", list(TORCH))
def test_sampler_shards_equal_torchs(key):
    """Expected shards verified against torch 2.13."""
    R, n, shuffle, seed, epoch, drop = key
    for r in range(R):
        s = DistributedSampler(
            list(range(n)), num_replicas=R, rank=r, shuffle=shuffle, seed=seed, drop_last=drop
        )
        s.set_epoch(epoch)
        assert list(s) == TORCH[key][r]
        assert len(s) == len(TORCH[key][r])


def test_sampler_epochs_shuffle_differently_and_cover_the_dataset():
    shards = []
    for e in (0, 1):
        per = []
        for r in range(3):
            s = DistributedSampler(list(range(30)), num_replicas=3, rank=r, seed=1)
            s.set_epoch(e)
            per.append(list(s))
        assert sorted(sum(per, [])) == list(range(30))
        shards.append(per)
    assert shards[0] != shards[1]


def test_sampler_rank_out_of_range():
    with pytest.raises(
        ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"
    ):
        DistributedSampler(list(range(4)), num_replicas=2, rank=2)
