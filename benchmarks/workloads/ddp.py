"""(g) Data-parallel MNIST MLP step (DistributedDataParallel on MPI) at 1 and 2 ranks.

Each measurement is a fresh ``mpiexec -n N`` job (``python -m benchmarks.workloads.ddp --child``)
in which every rank trains the 784-256-256-10 MLP (SGD momentum, batch 64 per rank, float32)
with one BLAS thread, so N ranks use N cores. Rows: time per step at 1 and 2 ranks (samples/s
and the scaling efficiency t(1 rank) / t(2 ranks) in the note, from medians and from the
fastest steps, which a busy machine disturbs least; per-rank batch is fixed, so 1.0 is perfect
weak scaling) and the time of the gradient all-reduce alone (every bucket, not
overlapped) per step. On a 2-core machine, 2 ranks take both cores: the efficiency shows the
cost of DDP's hooks and of MPI on shared memory, not what a network between machines costs.

``python -m benchmarks.workloads.ddp`` prints the rows on its own; skipped without mpi4py.
"""

import json
import os
import shutil
import subprocess
import sys
import time

from ..timing import Block, Result
from .common import Row

BATCH = 64
RANKS = (1, 2)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------- the child (one rank) ---------
def _child(mode, steps, warm):
    import numpy as np

    import jitgrad
    import jitgrad.distributed as dist
    from jitgrad.distributed import collectives as C
    from jitgrad.nn.parallel import DistributedDataParallel

    from . import mlp
    from .common import mlp_params, mnist_batch

    dist.init_process_group("mpi")
    r, w = dist.get_rank(), dist.get_world_size()
    model = DistributedDataParallel(mlp.jitgrad_model(mlp_params(mlp.SIZES)))
    opt = jitgrad.optim.SGD(model.parameters(), lr=mlp.LR, momentum=mlp.MOM)
    loss_fn = jitgrad.nn.CrossEntropyLoss()
    xb, yb = mnist_batch(BATCH * w)
    x, y = jitgrad.tensor(xb[r * BATCH : (r + 1) * BATCH]), jitgrad.tensor(yb[r * BATCH :][:BATCH])

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = jitgrad.trace(train_step, async_compile=False) if mode == "compiled" else train_step
    t0 = time.perf_counter()
    for _ in range(warm):
        step(x, y)
    first = time.perf_counter() - t0
    pg = dist.group.WORLD
    pg.comm.Barrier()
    ts = []
    for _ in range(steps):
        t = time.perf_counter()
        step(x, y)
        ts.append(time.perf_counter() - t)
    comm = []
    bufs = [np.zeros(n, dtype=np.float32) for n in model.bucket_sizes]
    for _ in range(steps):
        t = time.perf_counter()
        for b in bufs:
            C.start_allreduce(pg, b).Wait()
        comm.append(time.perf_counter() - t)
    out = dict(step_s=ts, comm_s=comm, warm_s=first, buckets=model.bucket_sizes, ranks=w)
    if mode == "compiled":
        out["compiled_calls"] = step.stats["compiled_calls"]
    if r == 0:
        print(json.dumps(out), flush=True)
    dist.destroy_process_group()


# ---------------------------------------------------------------- the parent -------------------
def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")


def _unavailable():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return 'skipped: mpi4py not installed (pip install -e ".[dist]")'
    if _mpiexec() is None:
        return "skipped: mpiexec not found (pip install mpich)"
    return None


def _launch(n, mode, steps, warm, timeout=900):
    env = dict(
        os.environ,
        MPIR_CVAR_ENABLE_HEAVY_YIELD="1",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        NUMBA_NUM_THREADS="1",
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    entry = "import sys; from benchmarks.workloads.ddp import main; main(sys.argv[1:])"
    cmd = [_mpiexec(), "-n", str(n), sys.executable, "-c", entry, "--child"]
    cmd += ["--mode", mode, "--steps", str(steps), "--warm", str(warm)]
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.terminate()  # SIGTERM: mpiexec takes its ranks down with it
        p.communicate()
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(out.decode().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (err or out).decode().strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {p.returncode}: {tail[0][:200]}"}


def _result(xs):
    return Result([Block(x, x, None, None) for x in xs], 1, 1.0, 1)


def measure(level, log=None):
    """{(ranks, 'step'|'comm'): {column: Result | reason}}, the raw records, and a note."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    modes = {"quick": ["eager"], "full": ["eager", "compiled"]}[level]
    steps = {"quick": 30, "full": 100}[level]
    out = {(n, k): {} for n in RANKS for k in ("step", "comm")}
    raw = []
    why = _unavailable()
    for n in RANKS:
        for mode in ("eager", "compiled"):
            col = f"jitgrad {mode}"
            if why or mode not in modes:
                reason = why or f"skipped (--{level})"
                out[(n, "step")][col] = out[(n, "comm")][col] = reason
                continue
            log(f"  (g) {col}: mpiexec -n {n} ...")
            r = _launch(n, mode, steps, warm=4 if mode == "compiled" else 3)
            r.update(mode=mode, n=n)
            raw.append(r)
            if "error" in r:
                out[(n, "step")][col] = out[(n, "comm")][col] = "failed: " + r["error"]
                continue
            out[(n, "step")][col] = _result(r["step_s"])
            out[(n, "comm")][col] = _result(r["comm_s"])
    notes = []
    for mode in modes:
        t = {n: out[(n, "step")].get(f"jitgrad {mode}") for n in RANKS}
        if all(isinstance(v, Result) for v in t.values()):
            t1, t2 = t[1].median, t[2].median
            notes.append(
                f"{mode}: {BATCH / t1:,.0f} samples/s at 1 rank, {2 * BATCH / t2:,.0f} at 2 "
                f"ranks, scaling efficiency t1/t2 = {t1 / t2:.2f} from medians, "
                f"{t[1].min / t[2].min:.2f} from the fastest steps"
            )
    if notes:
        try:
            notes.append(f"load average {os.getloadavg()[0]:.1f} (2 ranks need 2 idle cores)")
        except OSError:
            pass
    return out, raw, "; ".join(notes)


def rows(level):
    if level == "smoke":  # two MPI jobs and an MLP compile per rank: not for the smoke run
        return []
    holder = {}

    def get(key):
        if "m" not in holder:
            holder["m"] = measure(level)
        return holder["m"][0][key], holder["m"][1]

    out = []
    for n in RANKS:
        for kind in ("step", "comm"):
            what = (
                f"train step, batch {BATCH} per rank"
                if kind == "step"
                else "gradient all-reduce alone, per step"
            )
            row = Row(
                "ddp",
                f"(g) DDP MNIST MLP {what}, {n} rank{'s' if n > 1 else ''}",
                {},
                unit="ms",
                group="(g) data-parallel MLP (MPI)",
                x=f"{kind} {n}r",
            )

            def pre(key=(n, kind), row=row):
                res, raw = get(key)
                row.note = holder["m"][2]
                return res, raw

            row.precomputed = pre
            out.append(row)
    return out


def main(argv):
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks.workloads.ddp")
    p.add_argument("--child", action="store_true")
    p.add_argument("--mode", default="eager")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warm", type=int, default=3)
    p.add_argument("--full", action="store_true", help="also the compiled step (compiles)")
    a = p.parse_args(argv)
    if a.child:
        return _child(a.mode, a.steps, a.warm)
    from ..run import format_row, summarize

    level = "full" if a.full else "quick"
    rs = rows(level)
    for row in rs:
        res, _ = row.precomputed()
        results = {c: r for c, r in res.items() if not isinstance(r, str)}
        status = {c: r for c, r in res.items() if isinstance(r, str)}
        print(format_row(summarize(row, results, status, {}, None, {}), None) + "\n")
    print(rs[-1].note if rs else "")


if __name__ == "__main__":
    main(sys.argv[1:])
