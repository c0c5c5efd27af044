"""Launches 2 and 3 ranks with ``mpiexec`` (one launch each: every launch imports numba) and
checks each rank's results, read from per-rank JSON files written by ``_worker.py``.

Skipped only when mpi4py is not importable (the ``dist`` extra); the README's test command
installs it. ``MPIR_CVAR_ENABLE_HEAVY_YIELD=1``: a rank waiting in MPI otherwise spins a full
core, and three ranks share two cores here.
"""

import json
import os

import pytest

from ._jobs import run_job

pytest.importorskip(
    "mpi4py", reason='mpi4py is not installed: pip install -e ".[dist]" to run MPI tests'
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")

TWO = (
    "env_mismatch init collectives mismatch ddp_eager ddp_traced traced_collectives no_sync "
    "frozen unused forward_twice "
    "buffers sampler trace_mismatch before_init_after_destroy"
).split()
THREE = "init collectives mismatch ddp_eager no_sync frozen unused sampler trace_mismatch".split()


def _launch(mpi, n, checks, tmp):
    rc, out = run_job(mpi, n, [WORKER, str(tmp)] + checks, ROOT, timeout=240)
    res = []
    for r in range(n):
        path = os.path.join(tmp, f"rank{r}.json")
        if not os.path.exists(path):
            pytest.fail(f"rank {r} wrote no results (rc={rc}):\n{out[-3000:]}")
        with open(path) as f:
            res.append(json.load(f))
    return res


@pytest.fixture(scope="module")
def launch(mpi, tmp_path_factory):
    """``launch(n)``: the per-rank results of the one n-rank launch of this module."""
    done = {}

    def get(n):
        if n not in done:
            checks = TWO if n == 2 else THREE
            done[n] = _launch(mpi, n, checks, tmp_path_factory.mktemp(f"mpi{n}"))
        return n, done[n]

    return get


@pytest.fixture(params=[2, 3], ids=["2ranks", "3ranks"])
def ranks(request, launch):
    return launch(request.param)


@pytest.fixture
def two_ranks(launch):
    return launch(2)


def _get(ranks, name):
    n, res = ranks
    assert name in (TWO if n == 2 else THREE)
    out = []
    for r, d in enumerate(res):
        assert name in d, f"rank {r} did not reach check {name}"
        assert "ok" in d[name], f"rank {r}, {name}: {d[name].get('tb')}"
        out.append(d[name]["ok"])
    return n, out


def test_init_honours_and_checks_the_environment(ranks):
    n, res = _get(ranks, "init")
    for r, o in enumerate(res):
        assert (o["rank"], o["world"], o["initialized"], o["backend"]) == (r, n, True, "mpi")
        assert o["again"] == "trying to initialize the default process group twice!"
        assert o["env"] == [str(r), str(n), str(r)] and o["local"] == r


def test_env_rank_that_disagrees_with_mpi_is_an_error(two_ranks):
    n, res = _get(two_ranks, "env_mismatch")
    for r, o in enumerate(res):
        assert o["raised"].startswith(
            f"init_process_group: RANK={(r + 1) % n} but MPI says this process has rank {r}"
        )
        assert o["initialized"] is False


def test_collectives_values(ranks):
    n, res = _get(ranks, "collectives")
    s = sum(range(n))
    for o in res:
        assert o["SUM"] == [s, 10.0 * n - s, n, True]
        assert o["AVG"] == pytest.approx([s / n, (10.0 * n - s) / n, 1.0, True])
        assert o["MAX"] == [n - 1, 10.0, 1.0, True]
        assert o["MIN"] == [0.0, 11.0 - n, 1.0, True]
        assert o["int"] == [[s, s + n]]
        assert o["broadcast"] == [3.0 * (n - 1), 1.5]
        assert o["all_gather"] == [[q, q + 0.5] for q in range(n)]
        assert o["async"] == [n * (n + 1) / 2, True]
        assert o["leaf_inplace"] == [n * 1.0, n * 2.0, True, True]


def test_collective_argument_errors(ranks):
    n, res = _get(ranks, "collectives")
    for o in res:
        e = o["errors"]
        assert e["op"][0] == "TypeError" and "ReduceOp.SUM" in e["op"][1]
        assert e["src"] == ["RuntimeError", e["src"][1]]
        assert e["src"][1].startswith(f"broadcast: invalid root rank: {n}")
        assert e["list"][1].startswith(
            f"all_gather: invalid output tensor list at index 0 (expected length {n}, got 1)"
        )
        assert e["size"][1].startswith("all_gather: invalid tensor size at index 0")


def test_mismatched_collectives_raise_on_every_rank_instead_of_hanging(ranks):
    n, res = _get(ranks, "mismatch")
    for r, o in enumerate(res):
        assert o["shape"].startswith("Detected mismatch between collectives on ranks. ")
        assert f"Rank {r} is running collective: CollectiveFingerPrint(" in o["shape"]
        assert f"TensorShape=[{2 + r}]" in o["shape"]
        other = 1 if r == 0 else 0
        assert f"but Rank {other} is running collective" in o["shape"]
        assert f"TensorShape=[{2 + other}]" in o["shape"]
        assert "TensorDtypes=Double" in o["dtype"] and "TensorDtypes=Float" in o["dtype"]
        assert "OpType=ALLREDUCE" in o["op"] and "OpType=BROADCAST" in o["op"]
        assert o["after"] == [float(n)]  # the ranks are still in step


def test_ddp_equals_one_process_with_the_whole_batch_eager(ranks):
    n, res = _get(ranks, "ddp_eager")
    for o in res:
        assert o["maxdiff_vs_single"] < 1e-12
        assert o["ranks_agree"] == 0.0
        assert o["buckets"] == [18, 45, 56]  # reverse parameter order, bucket_cap_mb=0.0001
        assert o["old_grads_kept"] == 0.0  # the next backward does not write into old .grad
        # bucket 0 started when 2 of the 6 parameters had gradients: it overlaps the backward
        assert o["launch_log"] == [[0, 2], [1, 4], [2, 6]]


def test_ddp_equals_one_process_with_the_whole_batch_traced(two_ranks):
    n, res = _get(two_ranks, "ddp_traced")
    for o in res:
        assert o["maxdiff_vs_single"] < 1e-12
        assert o["loss_diff"] < 1e-12  # the traced user all_reduce(AVG) of the loss
    # rank 1 ran its third step eagerly, opposite rank 0's compiled one
    assert res[0]["stats"] == {"eager_calls": 1, "captures": 1, "compiled_calls": 2}
    assert res[1]["stats"] == {"eager_calls": 1, "captures": 1, "compiled_calls": 1}
    for o in res:
        # BatchNorm buffers (float64, int64), the gradient bucket, the user's all_reduce
        assert o["graph_ops"] == ["broadcast", "broadcast", "all_reduce", "all_reduce"]
        assert "all_reduce" in o["objmode_ops"]
        assert o["running_mean"] == [0.5, 0.5, 0.5]  # rank 1's 9.0 replaced in compiled code
        # the compiled step would still all-reduce inside no_sync(): said once, when entered
        assert len(o["no_sync_warning"]) == 1
        assert "still all-reduces inside this block" in o["no_sync_warning"][0]


def test_user_collectives_inside_a_compiled_step(two_ranks):
    n, res = _get(two_ranks, "traced_collectives")
    for o in res:
        assert o["stats"] == {"eager_calls": 1, "captures": 1, "compiled_calls": 2}
        for k, (z, gathered, top) in enumerate(o["got"]):
            assert z == [float(n - 1 + k) + 1, -float(n - 1) + 1]  # broadcast from the last rank
            assert gathered == [[2.0 * (q + k), -2.0 * q] for q in range(n)]
            assert top == [2.0 * (n - 1 + k), 0.0]


def test_no_sync_accumulates_locally_then_reduces_the_sum(ranks):
    n, res = _get(ranks, "no_sync")
    for o in res:
        assert o["local_is_unsynced"] == 0.0
        assert o["synced_vs_single"] < 1e-12
        assert o["launches"] == [[0, 4]]  # one bucket, launched in the synced backward only
        assert o["bare_is_local"] == 0.0  # the bare module's backward after a DDP step
        assert o["no_grad_forward_in_between"] < 1e-12


def test_frozen_parameters_are_broadcast_but_never_reduced(ranks):
    n, res = _get(ranks, "frozen")
    for o in res:
        assert o["init_diff"] == 0.0
        assert o["maxdiff_vs_single"] < 1e-12
        assert o["frozen_grad_none"] is True
        assert o["bucket_total"] == o["n_trainable"]


def test_find_unused_parameters(ranks):
    n, res = _get(ranks, "unused")
    for r, o in enumerate(res):
        assert sorted(o["none"]) == ["never.bias", "never.weight"]
        assert o["diff"] < 1e-15
        assert o["strict_error"].startswith(
            "Expected to have finished reduction in the prior iteration before starting a new one."
        )
        assert f"did not receive grad for rank {r}: " in o["strict_error"]
        assert "never.weight" in o["strict_error"]


def test_two_forwards_before_one_backward_is_an_error(two_ranks):
    n, res = _get(two_ranks, "forward_twice")
    for o in res:
        assert "the model ran forward more than once before this backward" in o["error"]
        assert o["after"] == [float(n)]


def test_batchnorm_buffers_come_from_rank_0_at_each_forward(two_ranks):
    n, res = _get(two_ranks, "buffers")
    for o in res:
        assert o["mean"] == [1.0] * 4 and o["var"] == [1.0] * 4
        assert o["y"] == res[0]["y"]


# torch.utils.data.DistributedSampler(list(range(n)), num_replicas, rank, shuffle, seed,
# drop_last) after set_epoch(epoch), as printed by torch 2.13 (the shards every rank must get)
TORCH_SHARDS = {
    2: {
        "10-0-0-False": [[4, 7, 3, 0, 6], [1, 5, 9, 8, 2]],
        "10-7-1-True": [[3, 0, 2, 4, 8], [5, 1, 6, 7, 9]],
    },
    3: {
        "10-0-0-False": [[4, 5, 0, 2], [1, 3, 8, 4], [7, 9, 6, 1]],
        "10-7-1-True": [[3, 1, 4], [5, 2, 7], [0, 6, 8]],
    },
}


def test_sampler_from_the_process_group_gives_torchs_shards(ranks):
    """Expected shards verified against torch 2.13's DistributedSampler."""
    n, res = _get(ranks, "sampler")
    for r, o in enumerate(res):
        for key, shards in TORCH_SHARDS[n].items():
            assert o[key] == [shards[r], len(shards[r])]


def test_ranks_tracing_different_graphs_is_an_error_naming_rank_and_field(ranks):
    n, res = _get(ranks, "trace_mismatch")
    for o in res:
        assert o["ops"].startswith("jitgrad.trace: ranks traced different graphs")
        assert "Rank 1 differs from rank 0 in the recorded ops" in o["ops"]
        assert "const(1.)" in o["ops"] and "const(2.)" in o["ops"]
        assert "Rank 1 differs from rank 0 in the graph inputs" in o["inputs"]
        assert "'arg [2, 3] float64' on rank 0 but 'arg [3, 3] float64' on rank 1" in o["inputs"]


def test_collective_after_destroy_raises_torchs_error(two_ranks):
    n, res = _get(two_ranks, "before_init_after_destroy")
    for o in res:
        assert o == {
            "initialized": False,
            "error": "Default process group has not been initialized, please make sure to call "
            "init_process_group.",
            "destroy_twice": "Process group cannot be None",
        }
