"""Side by side in one process: the MLP train step's thread plans against the NumPy step.

``python -m benchmarks.workloads.mlp_ab --batch 32 [--blocks 40] [--calls 20] [--threads 2]``

Cases, run in blocks of ``--calls`` calls, in a new random order each round: the compiled
step as users get it (``adaptive``: the run-time ``ThreadPlan`` chooses), the same step held
on each of its plans (``calibrated``, ``serial``, ``BLAS threads only`` where it has three),
``trace(parallel=False)`` and the hand-written NumPy step. Per case: the median over blocks
of wall time per call, of the calling thread's CPU time per call (which the other processes'
load inflates much less than wall time), and the per-call wall p50 / p90 / p99; then the
adaptive step's ``usage()`` (calls per plan, each plan's median and its calls over 2x). The
load average is printed beside it: wall times under load are not idle numbers.
"""

import argparse
import os
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    from .. import env

    env.configure(args.threads)
    import numpy as np

    from . import mlp
    from .common import mlp_params, mnist_batch

    params, batch = mlp_params(mlp.SIZES), mnist_batch(args.batch)
    cases = {"adaptive": mlp.jitgrad_step(params, batch, True)}
    for _ in range(3):  # eager, recorded, compiled
        cases["adaptive"]()
    tp = cases["adaptive"].traced._variant().exe.thread_plan
    n_plans = tp.n if tp is not None else 0
    from jitgrad.compile.backends.calibrate import PLAN_NAMES

    for plan in range(n_plans):  # the same step held on one plan
        f = mlp.jitgrad_step(params, batch, True)
        for _ in range(3):
            f()
        held = f.traced._variant().exe.thread_plan
        held.mode, held.cur, held.next_trial, held.todo = "held", plan, None, []
        cases[PLAN_NAMES[plan]] = f
    cases["parallel=False"] = mlp.jitgrad_step(params, batch, True, {"parallel": False})
    cases["numpy"] = mlp.numpy_step(params, batch)
    for f in cases.values():  # compiled, warm
        for _ in range(10):
            f()
    load0 = os.getloadavg()
    rng = np.random.default_rng(0)
    wall = {k: [] for k in cases}
    cpu = {k: [] for k in cases}
    per = {k: [] for k in cases}
    for _ in range(args.blocks):
        order = list(cases)
        rng.shuffle(order)
        for k in order:
            f = cases[k]
            c0, t0 = time.thread_time(), time.perf_counter()
            for _ in range(args.calls):
                a = time.perf_counter()
                f()
                per[k].append(time.perf_counter() - a)
            wall[k].append((time.perf_counter() - t0) / args.calls)
            cpu[k].append((time.thread_time() - c0) / args.calls)
    load1 = os.getloadavg()
    print(
        f"MLP train step, batch {args.batch}, {args.threads} threads: {args.blocks} blocks of "
        f"{args.calls} calls per case, shuffled; load average {load0[0]:.2f} -> {load1[0]:.2f}"
    )
    print(f"{'case':18s} {'wall ms':>8s} {'cpu ms':>8s} {'p50':>7s} {'p90':>7s} {'p99':>7s}")
    for k in cases:
        p = np.array(per[k]) * 1e3
        print(
            f"{k:18s} {np.median(wall[k]) * 1e3:8.3f} {np.median(cpu[k]) * 1e3:8.3f} "
            f"{np.median(p):7.3f} {np.percentile(p, 90):7.3f} {np.percentile(p, 99):7.3f}"
        )
    if tp is not None:
        print("adaptive plans:", tp.usage())
        print(tp.describe())


if __name__ == "__main__":
    sys.exit(main())
