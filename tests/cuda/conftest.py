"""CUDA backend tests: they run on a GPU, or on numba's CUDA simulator.

``tests/test_cuda_sim.py`` runs this folder in a subprocess with ``NUMBA_ENABLE_CUDASIM=1``
(numba reads it at import). In a process without GPU or simulator every test here is
skipped. Shapes are tiny: the simulator runs each CUDA thread as a Python thread.
"""

import os

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.cuda

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("JITGRAD_CACHE_DIR", os.path.join(_ROOT, ".jitgrad_cache", "tests"))


def pytest_collection_modifyitems(config, items):
    if jitgrad.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU and no CUDA simulator (NUMBA_ENABLE_CUDASIM=1)")
    here = os.path.dirname(os.path.abspath(__file__))
    for it in items:
        if str(it.fspath).startswith(here):
            it.add_marker(skip)


def _tol(dtype):
    return (1e-4, 1e-5) if np.dtype(dtype) == np.float32 else (1e-9, 1e-11)


def _np(x):
    if isinstance(x, jg.Tensor):
        return x.detach()._data.copy()
    if isinstance(x, (list, tuple)):
        return [_np(v) for v in x]
    return x


def _close(a, b, dtype, what):
    if isinstance(a, list):
        assert len(a) == len(b), what
        for k, (x, y) in enumerate(zip(a, b)):
            _close(x, y, dtype, f"{what}[{k}]")
        return
    if a is None or b is None:
        assert a is None and b is None, what
        return
    rtol, atol = _tol(dtype)
    assert a.shape == b.shape and a.dtype == b.dtype, (
        f"{what}: {a.shape}/{a.dtype} vs {b.shape}/{b.dtype}"
    )
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def parity(fn, arrays, grad=True, dtype=None, calls=3, cpu=False):
    """``fn(*leaves)`` eager vs ``trace(device='cuda')`` (and vs ``trace(device='cpu')`` with
    ``cpu=True``: off by default, as the CPU backend's own parity with eager is tested outside
    the simulator, and its cold compiles were ~40% of this lane's time).

    Leaves are state (closure) tensors, so gradients come back as ``.grad`` bindings; the
    output and every leaf's gradient (``(out * w).sum()`` with a fixed ``w``) are compared
    on the compiled call. Returns the CUDA executable."""
    dtype = dtype or arrays[0].dtype

    def run(device):
        leaves = [jg.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]

        def step():
            for t in leaves:
                t.grad = None
            out = fn(*leaves)
            if grad and out.requires_grad:
                w = jg.tensor(
                    np.linspace(0.5, 1.5, max(out.numel(), 1)).reshape(out.shape), dtype=out.dtype
                )
                (out * w).sum().backward()
            return out, [t.grad for t in leaves]

        if device is None:
            return _np(step()), None
        ts = jg.trace(step, device=device)
        for _ in range(calls):
            res = ts()
        assert ts.stats["compiled_calls"] == calls - 2, ts.stats
        return _np(res), ts.last.exe

    ref, _ = run(None)
    got_cuda, exe = run("cuda")
    assert exe.name == "cuda"
    _close(got_cuda[0], ref[0], dtype, "cuda vs eager: output")
    _close(got_cuda[1], ref[1], dtype, "cuda vs eager: grads")
    if not cpu:
        return exe
    got_cpu, _ = run("cpu")
    _close(got_cuda[0], got_cpu[0], dtype, "cuda vs cpu: output")
    _close(got_cuda[1], got_cpu[1], dtype, "cuda vs cpu: grads")
    return exe
