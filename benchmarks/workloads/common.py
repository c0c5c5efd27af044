"""Shared pieces of the workloads: the row type, columns, initial weights, value extraction."""

import numpy as np

from ..peers import Unavailable

COLUMNS = [
    "jitgrad eager",
    "jitgrad compiled",
    "jitgrad serial",  # compiled with trace(parallel=False): serial loops, one BLAS thread
    "numpy",
    "torch eager",
    "torch.compile",
    "jax.jit",
]
PEERS = ["numpy", "torch eager", "torch.compile", "jax.jit"]


class Row:
    def __init__(
        self,
        workload,
        name,
        cases,
        unit="ms",
        bytes_moved=None,
        per=None,
        group=None,
        x=None,
        note="",
    ):
        self.workload = workload  # family key (for --only and the chart)
        self.name = name  # shown in the table
        self.cases = cases  # {column: setup() -> step callable}
        self.unit = unit
        self.bytes_moved = bytes_moved  # minimal memory traffic of one step (bandwidth column)
        self.per = per  # (divisor, label): also report time / divisor, e.g. per op
        self.group = group or workload  # chart panel
        self.x = x  # chart x label within the panel
        self.note = note


def skip_serial(level):
    """The serial-compiled column (another compile per row) is left out of the smoke run."""
    if level == "smoke":
        raise Unavailable("skipped (--smoke)")


def skip_compile(level):
    """torch.compile costs tens of seconds per graph: only in the full run."""
    if level != "full":
        raise Unavailable(f"skipped (--{level})")


def to_float(v):
    """A scalar summary of a step's result (for the cross-implementation check)."""
    if isinstance(v, (tuple, list)):
        v = v[0]
    if hasattr(v, "detach"):
        v = v.detach()
    if hasattr(v, "numpy"):
        try:
            v = v.numpy()
        except Exception:
            v = np.asarray(v)
    return float(np.asarray(v, dtype=np.float64).sum())


def linear_init(rng, fan_in, fan_out):
    """PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias."""
    k = 1.0 / np.sqrt(fan_in)
    w = rng.uniform(-k, k, (fan_out, fan_in)).astype(np.float32)
    b = rng.uniform(-k, k, (fan_out,)).astype(np.float32)
    return w, b


def mlp_params(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [linear_init(rng, a, b) for a, b in zip(sizes[:-1], sizes[1:])]


def mnist_batch(batch, flat=True, seed=1):
    rng = np.random.default_rng(seed)
    shape = (batch, 784) if flat else (batch, 1, 28, 28)
    x = rng.standard_normal(shape, dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


def load_jitgrad(params, arrays):
    """Copy NumPy arrays into jitgrad parameters, in order."""
    import jitgrad

    with jitgrad.no_grad():
        for p, a in zip(params, arrays):
            p.copy_(jitgrad.tensor(a))


def load_torch(params, arrays):
    import torch

    with torch.no_grad():
        for p, a in zip(params, arrays):
            p.copy_(torch.from_numpy(np.ascontiguousarray(a)))


def flat_params(params):
    out = []
    for w, b in params:
        out += [w, b]
    return out
