"""One rank of a distributed test launch: ``mpiexec -n N python _worker.py OUTDIR CHECK...``.

Each named check runs on every rank; its JSON-able result (or the exception it raised) goes to
``OUTDIR/rank<r>.json``, rewritten after every check, so the pytest side reads per-rank results
instead of interleaved stdout. References that need no MPI (one process, batch W*b) are computed
on each rank in-process from the same seeds.
"""

import json
import os
import sys
import time
import traceback
import warnings

import numpy as np

import jitgrad
import jitgrad.distributed as dist
import jitgrad.nn as nn
from jitgrad.nn.parallel import DistributedDataParallel as DDP

CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def arr(t):
    return np.asarray(t._data).tolist()


def maxdiff(ps, qs):
    return max(float(np.abs(p._data - q._data).max()) for p, q in zip(ps, qs))


def mlp(seed, sizes=(6, 8, 3)):
    jitgrad.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).double()


def data(steps, n, d_in=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((steps, n, d_in)), rng.integers(0, classes, (steps, n))


def shard(a, r, b):
    return jitgrad.tensor(a[r * b : (r + 1) * b])


# ---------------------------------------------------------------- the checks --------------------
@check
def env_mismatch(r, w):
    """RANK from the environment that disagrees with MPI is an error (before init succeeds)."""
    os.environ["RANK"] = str((r + 1) % w)
    try:
        dist.init_process_group("mpi")
        return {"raised": None}
    except RuntimeError as e:
        return {"raised": str(e), "initialized": dist.is_initialized()}
    finally:
        del os.environ["RANK"]


@check
def init(r, w):
    dist.init_process_group(backend="mpi")
    again = None
    try:
        dist.init_process_group("mpi")
    except ValueError as e:
        again = str(e)
    return {
        "rank": dist.get_rank(),
        "world": dist.get_world_size(),
        "initialized": dist.is_initialized(),
        "again": again,
        "env": [os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["LOCAL_RANK"]],
        "local": dist.get_node_local_rank(),
        "backend": dist.get_backend(),
    }


@check
def collectives(r, w):
    out = {}
    for name in ("SUM", "AVG", "MAX", "MIN"):
        t = jitgrad.tensor([float(r), 10.0 - r, 1.0], dtype=jitgrad.float64)
        ret = dist.all_reduce(t, op=getattr(dist.ReduceOp, name))
        out[name] = arr(t) + [ret is None]
    t = jitgrad.tensor([[r, r + 1]], dtype=jitgrad.int64)
    dist.all_reduce(t)
    out["int"] = arr(t)
    t = jitgrad.tensor([float(r) * 3, 1.5])
    dist.broadcast(t, src=w - 1)
    out["broadcast"] = arr(t)
    outs = [jitgrad.zeros(2, dtype=jitgrad.float64) for _ in range(w)]
    dist.all_gather(outs, jitgrad.tensor([r, r + 0.5], dtype=jitgrad.float64))
    out["all_gather"] = [arr(o) for o in outs]
    t = jitgrad.tensor([float(r + 1)])
    work = dist.all_reduce(t, op=dist.ReduceOp.SUM, async_op=True)
    work.wait()
    out["async"] = arr(t) + [work.is_completed()]
    x = jitgrad.tensor([1.0, 2.0], requires_grad=True)
    v0 = x._vc[0]
    dist.all_reduce(x)
    out["leaf_inplace"] = arr(x) + [x._vc[0] > v0, x.grad is None]
    dist.barrier()
    out["errors"] = {}
    for label, fn in (
        ("op", lambda: dist.all_reduce(jitgrad.ones(2), op="sum")),
        ("src", lambda: dist.broadcast(jitgrad.ones(2), src=w)),
        ("list", lambda: dist.all_gather([jitgrad.ones(2)], jitgrad.ones(2))),
        ("size", lambda: dist.all_gather([jitgrad.ones(3)] * w, jitgrad.ones(2))),
    ):
        try:
            fn()
            out["errors"][label] = None
        except (TypeError, RuntimeError) as e:
            out["errors"][label] = [type(e).__name__, str(e)]
    return out


@check
def mismatch(r, w):
    """Different shapes/dtypes/ops across ranks: an error on every rank, then still in step."""
    out = {}
    cases = {
        "shape": lambda: dist.all_reduce(jitgrad.ones(2 + r)),
        "dtype": lambda: dist.all_reduce(jitgrad.ones(2, dtype=jitgrad.float64 if r else None)),
        "op": lambda: (
            dist.all_reduce(jitgrad.ones(2)) if r == 0 else dist.broadcast(jitgrad.ones(2), 0)
        ),
    }
    for label, fn in cases.items():
        try:
            fn()
            out[label] = None
        except RuntimeError as e:
            out[label] = str(e)
    t = jitgrad.tensor([1.0])
    dist.all_reduce(t)
    out["after"] = arr(t)
    return out


def _train(model, batches, steps):
    opt = jitgrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    lossf = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for k in range(steps):
        step(*batches(k))


def _equivalence(r, w, sizes, steps, b, cap):
    X, Y = data(steps, w * b, sizes[0], sizes[-1])
    model = mlp(100 + r, sizes)  # a different init per rank: DDP must take rank 0's
    ddp = DDP(model, bucket_cap_mb=cap)
    _train(ddp, lambda k: (shard(X[k], r, b), shard(Y[k], r, b)), steps)
    ref = mlp(100, sizes)
    _train(ref, lambda k: (jitgrad.tensor(X[k]), jitgrad.tensor(Y[k])), steps)
    flat = np.concatenate([p._data.ravel() for p in model.parameters()])
    every = np.empty((w, flat.size))
    dist.group.WORLD.comm.Allgather(flat, every)
    kept = [p.grad for p in model.parameters()]  # .grad objects of the last step
    snap = [g._data.copy() for g in kept]
    model.zero_grad()
    nn.CrossEntropyLoss()(ddp(shard(X[0], r, b)), shard(Y[0], r, b)).backward()
    res = {
        "old_grads_kept": max(float(np.abs(g._data - c).max()) for g, c in zip(kept, snap)),
        "maxdiff_vs_single": maxdiff(model.parameters(), ref.parameters()),
        "ranks_agree": float(np.abs(every - every[0]).max()),
        "launch_log": ddp.launch_log,
        "buckets": ddp.bucket_sizes,
        "n_params": len(list(model.parameters())),
    }
    return res


@check
def ddp_eager(r, w):
    return _equivalence(r, w, (6, 8, 5, 3), 4, 4, 0.0001)


def compile_once(fn):
    """``jitgrad.trace``; rank 0 compiles in the background (see ``compiled_on_rank_0``)."""
    from mpi4py import MPI

    return jitgrad.trace(fn, async_compile=MPI.COMM_WORLD.Get_rank() == 0)


def compiled_on_rank_0(step, k):
    """Before the third call: rank 0 finishes compiling, then the others load its numba cache
    entry (the same graph, so the same source) instead of compiling it again."""
    if k == 2:
        if dist.get_rank() == 0:
            step.wait()
        dist.barrier()


def _bn_net(seed):
    jitgrad.manual_seed(seed)
    m = nn.Sequential(nn.Linear(5, 3), nn.BatchNorm1d(3)).double()
    m[1].eval()  # running statistics: the same function on every rank and in one process
    with jitgrad.no_grad():
        m[1].running_mean.fill_(0.5)
        m[1].running_var.fill_(2.0)
    return m


@check
def ddp_traced(r, w):
    """A compiled DDP step (MSE, plain SGD: a small graph, so a cold numba compile is short)
    equals one process with the whole batch. Its graph holds the buffer broadcasts, the bucket
    all-reduce and a user all_reduce of the loss; after it compiled, rank 1's BatchNorm buffers
    are overwritten and the compiled broadcast must restore rank 0's. One step pairs a
    compiled rank with an eager one."""
    steps, b = 4, 3
    X = data(steps, w * b, 5)[0]
    Y = np.random.default_rng(9).standard_normal((steps, w * b, 3))
    model = _bn_net(100 + r)
    ddp = DDP(model)
    opt = jitgrad.optim.SGD(ddp.parameters(), lr=0.1)
    lossf = nn.MSELoss()

    @compile_once
    def step(x, y):
        opt.zero_grad()
        loss = lossf(ddp(x), y)
        loss.backward()
        opt.step()
        avg = loss.detach().clone()
        dist.all_reduce(avg, op=dist.ReduceOp.AVG)
        return avg

    losses = []
    for k in range(steps):
        compiled_on_rank_0(step, k)
        if k == steps - 1 and r == 1:
            with jitgrad.no_grad():
                model[1].running_mean.fill_(9.0)
        # at k == 2 rank 0 runs compiled code while rank 1 runs the same step eagerly (as while
        # a background compile is still running): their collectives must still pair up
        fn = step.fn if (k == 2 and r == 1) else step
        losses.append(fn(shard(X[k], r, b), shard(Y[k], r, b)).item())
    ref = _bn_net(100)
    ref_opt = jitgrad.optim.SGD(ref.parameters(), lr=0.1)
    ref_losses = []
    for k in range(steps):
        ref_opt.zero_grad()
        loss = lossf(ref(jitgrad.tensor(X[k])), jitgrad.tensor(Y[k]))
        loss.backward()
        ref_opt.step()
        ref_losses.append(loss.item())
    names = ("all_reduce", "broadcast")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ddp.no_sync():
            pass
    return {
        "no_sync_warning": [str(x.message) for x in caught],
        "maxdiff_vs_single": maxdiff(model.parameters(), ref.parameters()),
        "loss_diff": max(abs(a - b_) for a, b_ in zip(losses, ref_losses)),
        "running_mean": arr(model[1].running_mean),
        "stats": step.stats,
        "graph_ops": [n.op.name for n in step.graph.nodes if n.op.name in names],
        "objmode_ops": list(getattr(step.last.exe, "objmode_ops", [])),
    }


@check
def traced_collectives(r, w):
    """all_gather, broadcast and all_reduce(MAX) on user tensors inside a compiled step."""
    outs = [jitgrad.zeros(2, dtype=jitgrad.float64) for _ in range(w)]
    top = jitgrad.zeros(2, dtype=jitgrad.float64)

    @compile_once
    def f(x):
        y = x * 2
        dist.all_gather(outs, y)
        top.copy_(y)
        dist.all_reduce(top, op=dist.ReduceOp.MAX)
        z = x + 1
        dist.broadcast(z, src=w - 1)
        return z

    got = []
    for k in range(4):
        compiled_on_rank_0(f, k)
        z = f(jitgrad.tensor([float(r + k), -float(r)], dtype=jitgrad.float64))
        got.append([arr(z), [arr(o) for o in outs], arr(top)])
    return {"got": got, "stats": f.stats}


@check
def no_sync(r, w):
    """Two micro-batches, the first under no_sync: one reduction of the summed gradients."""
    b = 3
    X, Y = data(2, w * b, seed=1)
    lossf = nn.CrossEntropyLoss()
    model = mlp(7)
    ddp = DDP(model)
    with ddp.no_sync():
        lossf(ddp(shard(X[0], r, b)), shard(Y[0], r, b)).backward()
    local = [p.grad._data.copy() for p in model.parameters()]
    alone = mlp(7)
    lossf(alone(shard(X[0], r, b)), shard(Y[0], r, b)).backward()
    lossf(ddp(shard(X[1], r, b)), shard(Y[1], r, b)).backward()
    ref = mlp(7)
    for k in range(2):
        lossf(ref(jitgrad.tensor(X[k])), jitgrad.tensor(Y[k])).backward()
    synced = [p.grad._data.copy() for p in model.parameters()]
    # a no_grad forward between a forward and its backward leaves that step's reduction alone
    model.zero_grad()
    loss = lossf(ddp(shard(X[1], r, b)), shard(Y[1], r, b))
    with jitgrad.no_grad():
        ddp(shard(X[0], r, b))
    loss.backward()
    ref2 = mlp(7)
    lossf(ref2(jitgrad.tensor(X[1])), jitgrad.tensor(Y[1])).backward()
    interleaved = max(
        float(np.abs(p.grad._data - q.grad._data).max())
        for p, q in zip(model.parameters(), ref2.parameters())
    )
    model.zero_grad()  # a backward through the bare module afterwards is not reduced
    lossf(model(shard(X[0], r, b)), shard(Y[0], r, b)).backward()
    bare = [p.grad._data.copy() for p in model.parameters()]
    return {
        "no_grad_forward_in_between": interleaved,
        "bare_is_local": max(
            float(np.abs(a - p.grad._data).max()) for a, p in zip(bare, alone.parameters())
        ),
        "synced_vs_single": max(
            float(np.abs(a - q.grad._data).max()) for a, q in zip(synced, ref.parameters())
        ),
        "local_is_unsynced": max(
            float(np.abs(a - p.grad._data).max()) for a, p in zip(local, alone.parameters())
        ),
        "launches": ddp.launch_log,
    }


@check
def frozen(r, w):
    """Frozen parameters: broadcast at construction, never reduced, .grad stays None."""
    b = 4
    X, Y = data(3, w * b, seed=2)
    model = mlp(200 + r)
    model[0].weight.requires_grad_(False)
    ddp = DDP(model)
    ref = mlp(200)
    ref[0].weight.requires_grad_(False)
    init_diff = maxdiff(model.parameters(), ref.parameters())
    _train(ddp, lambda k: (shard(X[k], r, b), shard(Y[k], r, b)), 3)
    _train(ref, lambda k: (jitgrad.tensor(X[k]), jitgrad.tensor(Y[k])), 3)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "init_diff": init_diff,
        "maxdiff_vs_single": maxdiff(model.parameters(), ref.parameters()),
        "frozen_grad_none": model[0].weight.grad is None,
        "bucket_total": sum(ddp.bucket_sizes),
        "n_trainable": n_trainable,
    }


class _TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.a = nn.Linear(4, 2)
        self.b = nn.Linear(4, 2)
        self.never = nn.Linear(4, 2)

    def forward(self, x, use_b):
        h = self.body(x).relu()
        return self.b(h) if use_b else self.a(h)


@check
def unused(r, w):
    """find_unused_parameters: a head used on one rank only gets the averaged gradient there
    (its contribution is zero elsewhere); a head no rank uses keeps .grad None; without the
    flag, an unused parameter is torch's error at the next forward, on the rank that has it."""
    jitgrad.manual_seed(3)
    m = _TwoHeads().double()
    ddp = DDP(m, find_unused_parameters=True)
    x = jitgrad.tensor(np.random.default_rng(r).standard_normal((3, 4)))
    ddp(x, use_b=(r == 1)).sum().backward()
    grads = {n: (None if p.grad is None else arr(p.grad)) for n, p in m.named_parameters()}
    # the same gradients from one process: average of each rank's local gradient
    local = {}
    for q in range(w):
        jitgrad.manual_seed(3)
        m2 = _TwoHeads().double()
        xq = jitgrad.tensor(np.random.default_rng(q).standard_normal((3, 4)))
        m2(xq, use_b=(q == 1)).sum().backward()
        for n, p in m2.named_parameters():
            g = np.zeros_like(p._data) if p.grad is None else p.grad._data
            local[n] = local.get(n, 0) + g / w
    diff = max(
        float(np.abs(np.array(grads[n]) - local[n]).max()) for n in grads if grads[n] is not None
    )
    jitgrad.manual_seed(3)
    strict = DDP(_TwoHeads().double())
    strict(x, use_b=False).sum().backward()
    err = None
    try:
        strict(x, use_b=False)
    except RuntimeError as e:
        err = str(e)
    return {"none": [n for n, g in grads.items() if g is None], "diff": diff, "strict_error": err}


@check
def forward_twice(r, w):
    """Two forwards before one backward: an error on every rank, and the ranks stay in step."""
    m = DDP(nn.Linear(3, 2))
    x = jitgrad.ones(2, 3)
    loss = m(x).sum() + m(x * 2).sum()
    err = None
    try:
        loss.backward()
    except RuntimeError as e:
        err = str(e)
    t = jitgrad.tensor([1.0])
    dist.all_reduce(t)
    return {"error": err, "after": arr(t)}


@check
def buffers(r, w):
    """BatchNorm running statistics: rank 0's are broadcast at every forward."""
    jitgrad.manual_seed(4)
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    ddp = DDP(m)
    with jitgrad.no_grad():
        m[1].running_mean.fill_(float(r + 1))
        m[1].running_var.fill_(float(2 * r + 1))
    ddp.eval()
    x = jitgrad.tensor(np.arange(6.0).reshape(2, 3))
    y = ddp(x)
    return {"mean": arr(m[1].running_mean), "var": arr(m[1].running_var), "y": arr(y.detach())}


@check
def sampler(r, w):
    from jitgrad.utils.data import DistributedSampler

    out = {}
    for n, shuffle, seed, epoch, drop in ((10, True, 0, 0, False), (10, True, 7, 1, True)):
        s = DistributedSampler(list(range(n)), shuffle=shuffle, seed=seed, drop_last=drop)
        s.set_epoch(epoch)
        out[f"{n}-{seed}-{epoch}-{drop}"] = [list(s), len(s)]
    return out


def _traced_step(w_rank_factor, b):
    jitgrad.manual_seed(5)
    model = DDP(nn.Linear(3, 2).double())
    opt = jitgrad.optim.SGD(model.parameters(), lr=0.1)

    @jitgrad.trace
    def step(x):
        opt.zero_grad()
        loss = model(x).square().mean() * w_rank_factor
        loss.backward()
        opt.step()
        return loss

    x = jitgrad.tensor(np.ones((b, 3)))
    try:
        for _ in range(3):
            step(x)
        return None
    except jitgrad.TraceError as e:
        return str(e)


@check
def trace_mismatch(r, w):
    """Ranks that trace different graphs get an error naming the rank and the field."""
    return {
        "ops": _traced_step(2.0 if r == 1 else 1.0, 2),
        "inputs": _traced_step(1.0, 2 + (r == 1)),
    }


@check
def before_init_after_destroy(r, w):
    dist.destroy_process_group()
    out = {"initialized": dist.is_initialized()}
    try:
        dist.all_reduce(jitgrad.ones(1))
    except ValueError as e:
        out["error"] = str(e)
    try:
        dist.destroy_process_group()
    except AssertionError as e:
        out["destroy_twice"] = str(e)
    return out


def main():
    outdir, names = sys.argv[1], sys.argv[2:]
    from mpi4py import MPI

    r, w = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    results = {}
    path = os.path.join(outdir, f"rank{r}.json")
    for name in names:
        t0 = time.perf_counter()
        try:
            results[name] = {"ok": CHECKS[name](r, w), "s": time.perf_counter() - t0}
        except Exception as e:
            results[name] = {"error": f"{type(e).__name__}: {e}", "tb": traceback.format_exc()}
        with open(path + ".tmp", "w") as f:
            json.dump(results, f)
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
