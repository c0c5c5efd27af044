"""Data-parallel MNIST MLP on MPI: each rank trains a replica on its shard, gradients averaged.

mpiexec -n 2 python examples/mnist_ddp.py --mode both    # eager, then the jitgrad.trace step
mpiexec -n 2 python examples/mnist_ddp.py --quick        # a few batches (or JITGRAD_QUICK=1)
mpiexec -f hosts -n 8 python examples/mnist_ddp.py       # a cluster: one line per host in hosts

On a small machine set MPIR_CVAR_ENABLE_HEAVY_YIELD=1 (MPICH), or waiting ranks spin a core each.
Only rank 0 prints. --batch-size is per rank: the global batch is world_size times larger.
"""

import os

# one BLAS thread per rank: the ranks take the cores (several BLAS threads per rank on a shared
# machine fight each other; measured here: 10x slower steps). Export it yourself to override.
for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

import time

import numpy as np
from _common import is_quick, parser

import jitgrad as torch
import jitgrad.distributed as dist
from jitgrad import nn
from jitgrad.nn.parallel import DistributedDataParallel as DDP
from jitgrad.utils.data import DataLoader, DistributedSampler, TensorDataset


def build():
    return nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


def say(*a):
    if dist.get_rank() == 0:
        print(*a, flush=True)


def train(mode, data, args):
    (xtr, ytr), (xte, yte) = data
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed + rank)  # different on purpose: DDP starts from rank 0's weights
    model = DDP(build())
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()  # gradients are averaged over the ranks during this call
        opt.step()
        return loss

    step = torch.trace(train_step) if mode == "trace" else train_step
    ds = TensorDataset(xtr, ytr)
    sampler = DistributedSampler(ds, shuffle=True, seed=args.seed)
    loader = DataLoader(ds, batch_size=args.batch_size, sampler=sampler, drop_last=True)
    quick = is_quick(args)
    n_batches = 10 if quick else len(loader)
    epochs = 1 if quick else args.epochs
    seen, t_train = 0, 0.0
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        total = torch.zeros(1, dtype=torch.float64)
        steps = 0
        for i, (x, y) in enumerate(loader):
            if i == n_batches:
                break
            loss = step(x, y)
            total += loss.detach().double()
            seen += len(y) * world
            steps += 1
        t_train += time.perf_counter() - t0
        dist.all_reduce(total, op=dist.ReduceOp.AVG)
        say(f"mnist_ddp [{mode}] epoch {epoch + 1}/{epochs}: mean loss {total.item() / steps:.4f}")
    # every replica holds the same weights: compare a checksum across ranks
    flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
    sums = [torch.zeros(2, dtype=torch.float64) for _ in range(world)]
    dist.all_gather(sums, torch.stack([flat.sum(), (flat * flat).sum()]))
    same = all(np.array_equal(s.numpy(), sums[0].numpy()) for s in sums)
    acc = None
    if rank == 0:
        if quick:
            xte, yte = xte[:1000], yte[:1000]
        model.eval()
        with torch.no_grad():
            acc = (model.module(xte).argmax(1) == yte).float().mean().item()
    rate = seen / t_train
    extra = ""
    if mode == "trace":
        extra = f", {step.stats['compiled_calls']} compiled steps of {n_batches * epochs}"
    say(
        f"mnist_ddp [{mode}] {world} ranks: test accuracy {(acc or 0) * 100:.2f}%, "
        f"throughput {rate:,.0f} samples/s (all ranks), replicas identical: {same}{extra}"
    )
    return dict(mode=mode, acc=acc, rate=rate, time=t_train)


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["eager", "trace", "both"], default="eager")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64, help="per rank")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    dist.init_process_group("mpi")
    say(f"mnist_ddp: {dist.get_world_size()} ranks, batch {args.batch_size} per rank")
    data = (
        torch.datasets.MNIST(train=True).tensors(flatten=True),
        torch.datasets.MNIST(train=False).tensors(flatten=True),
    )
    modes = ["eager", "trace"] if args.mode == "both" else [args.mode]
    results = [train(m, data, args) for m in modes]
    if len(results) == 2:
        say(f"\n{'mode':<8}{'test acc':>10}{'samples/s':>12}{'train s':>10}")
        for r in results:
            acc = (r["acc"] or 0) * 100
            say(f"{r['mode']:<8}{acc:>9.2f}%{r['rate']:>12,.0f}{r['time']:>10.1f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
