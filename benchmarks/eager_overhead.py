"""Per-op overhead of eager mode: a chain of 200 ops, forward + backward, per op.

    PYTHONPATH=. python benchmarks/eager_overhead.py [--repeats 15]

Runs the same chains in PyTorch in the same process when ``import torch`` works
(``torch.set_num_threads(2)``), interleaved with jitgrad's, and prints the ratio
jitgrad / torch of the medians.

Times are CPU time of this process (``time.process_time``): on a shared, loaded machine
wall-clock time mostly measures the other tenants. Pass ``--clock wall`` for
``time.perf_counter``. (For the medium size, torch may use two threads; CPU time then
counts both, wall time counts the elapsed time.)
"""

import argparse
import statistics
import time

import numpy as np

import jitgrad

N_OPS = 200


def chain(lib, x, w, b):
    """200 ops: tensor-tensor and tensor-scalar arithmetic and unary math, then backward."""
    y = x
    for _ in range(N_OPS // 10):
        y = y * w  # mul
        y = y + b  # add
        y = y.tanh()  # unary
        y = y * 0.5  # scalar operand
        y = y + 1.0
        y = y - b  # sub
        y = y.sigmoid()
        y = y / w  # div
        y = y.exp()
        y = 2.0 * y  # reflected scalar
    y.sum().backward()  # sum + backward; sum counted outside the 200
    return y


def _setup(lib, shape, seed=0):
    rng = np.random.default_rng(seed)
    f = lambda: lib.tensor(rng.uniform(0.5, 1.0, size=shape).astype(np.float32))
    x = f().requires_grad_()
    w = f().requires_grad_()
    b = f().requires_grad_()
    return x, w, b


_CLOCK = time.process_time


def _time_chain(lib, shape, reps_inner):
    x, w, b = _setup(lib, shape)
    t0 = _CLOCK()
    for _ in range(reps_inner):
        x.grad = w.grad = b.grad = None
        chain(lib, x, w, b)
    return (_CLOCK() - t0) / reps_inner / N_OPS * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    global _CLOCK
    _CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
    libs = [("jitgrad", jitgrad)] + ([("torch", torch)] if torch is not None else [])
    # the values agree (a check that both run the same chain)
    if torch is not None:
        ys = []
        for _, lib in libs:
            x, w, b = _setup(lib, (1,))
            y = chain(lib, x, w, b)
            ys.append((float(y.detach().sum()), float(x.grad.sum())))
        assert np.allclose(ys[0], ys[1], rtol=1e-4), ys
    print(
        f"eager overhead: chain of {N_OPS} ops, forward + backward, microseconds per op "
        f"({'CPU' if args.clock == 'cpu' else 'wall'} time, medians of {args.repeats})"
    )
    for label, shape, inner in (
        ("1-element float32", (1,), 10),
        ("256x256 float32", (256, 256), 1),
    ):
        res = {name: [] for name, _ in libs}
        for _, lib in libs:  # warm-up
            _time_chain(lib, shape, 2)
        for _ in range(args.repeats):
            for name, lib in libs:  # interleaved
                res[name].append(_time_chain(lib, shape, inner))
        med = {name: statistics.median(v) for name, v in res.items()}
        line = f"  {label:18s}  jitgrad {med['jitgrad']:8.2f} us/op"
        if torch is not None:
            ratio = med["jitgrad"] / med["torch"]
            line += f"   torch {med['torch']:8.2f} us/op   ratio jitgrad/torch {ratio:.2f}"
        print(line)


if __name__ == "__main__":
    main()
