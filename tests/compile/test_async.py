"""The default async mode with the compile worker: eager calls run while the worker compiles,
the compiled code then loads from disk, and the results match eager mode throughout; a
worker that dies mid-compile still leaves a working step.

tests/conftest.py forces the foreground compile for the rest of the suite; every test here
asks for ``async_compile=True`` explicitly. Until the lead wires ``compile_in_worker`` into
``backends/cpu.py``, ``worker.patch_cpu_backend`` routes the async compile to the worker.
"""

import importlib.util
import os
import time
import warnings

import numpy as np
import pytest

import jitgrad as torch
from jitgrad.compile import worker
from jitgrad.compile.backends import cpu

_CW = os.path.join(os.path.dirname(os.path.dirname(__file__)), "reliability", "_cache_worker.py")
_spec = importlib.util.spec_from_file_location("_cache_worker", _CW)
cw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cw)


@pytest.fixture
def via_worker(fresh_cache):
    """The CPU backend's async compile goes to the worker (undone afterwards)."""
    cls = cpu.CPUExecutable
    patched = worker.patch_cpu_backend()
    worker.shutdown()
    yield fresh_cache
    worker.shutdown()
    if patched:
        cls.precompile = cls._precompile_in_process
        del cls.uses_worker, cls._precompile_in_process


def _run_until_compiled(lr, kill=0, timeout=90, variant=0):
    """Call the test step until a call ran compiled code; kill the worker ``kill`` times on
    the way, each after it has worked for half a second (it starts in ~0.5 s, the compile takes
    2-3 s). Returns (traced step, weight, every loss, killed pids)."""
    step, w, x = cw.make_step(torch, lr, variant)
    traced = torch.trace(step, async_compile=True)
    losses, killed = [], []
    blas = worker.numpy_blas_threads()
    traced.blas_while_compiling = set()  # NumPy's BLAS threads seen while the worker compiled
    deadline = time.monotonic() + timeout
    while traced.stats["compiled_calls"] == 0 and time.monotonic() < deadline:
        losses.append(float(traced(x).item()))
        if traced.stats["captures"] and not traced.last.ready:
            traced.blas_while_compiling.add(worker.numpy_blas_threads())
        for pid, secs in worker.busy().items():
            if len(killed) < kill and pid not in killed and secs > 0.5:
                os.kill(pid, 9)
                killed.append(pid)
        time.sleep(0.01)
    for _ in range(2):
        losses.append(float(traced(x).item()))
    assert len(killed) == kill
    traced.wait()  # the compile thread puts NumPy's count back right after it is ready
    assert worker.numpy_blas_threads() == blas  # the count the compile found, put back
    return traced, w, losses, killed


def _matches_eager(w, losses, lr, variant=0):
    ref = cw.eager_losses(len(losses), lr, variant)
    np.testing.assert_allclose(losses, ref, rtol=2e-5, atol=1e-7)
    wref = torch.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    assert not np.allclose(w.detach().numpy(), wref.numpy())  # training moved it


def test_worker_compiles_while_eager_calls_run(via_worker):
    traced, w, losses, _ = _run_until_compiled(0.1)
    exe = traced.last.exe
    info = exe.worker_info
    assert info["worker"] is True and info["jobs"][0]["compiled"] == 1
    assert info["jobs"][0]["pid"] != os.getpid()
    assert exe.cache_hit  # this process loaded the code from disk ...
    assert not exe.fn.stats.cache_misses  # ... and compiled nothing itself
    assert traced.stats["eager_calls"] >= 3  # calls ran while the worker compiled
    assert traced.stats["compiled_calls"] == 3
    if worker.numpy_blas_threads() is not None:  # NumPy's BLAS on one thread meanwhile
        assert traced.blas_while_compiling == {1}
    _matches_eager(w, losses, 0.1)
    # a second traced step of the same graph structure (another lr: constants are
    # arguments) reuses the compiled code: no worker, no compile, compiled from the call
    # after its capture (tests/reliability/test_cache_faults.py: a new process finds it on disk)
    traced2, w2, losses2, _ = _run_until_compiled(0.2)
    exe2 = traced2.last.exe
    assert exe2.worker_info == {"worker": False, "reason": f"compiled code reused from {exe.key}"}
    assert exe2.fn is exe.fn and len(exe.fn.signatures) == 1
    assert traced2.stats["eager_calls"] == 1  # warm-up; then capture, then compiled calls
    _matches_eager(w2, losses2, 0.2)


def test_worker_killed_mid_compile_is_retried(via_worker):
    traced, w, losses, killed = _run_until_compiled(0.11, kill=1, variant=1)
    info = traced.last.exe.worker_info
    assert info["worker"] is True and info["jobs"][0]["pid"] not in killed
    _matches_eager(w, losses, 0.11, variant=1)


def test_worker_dying_twice_falls_back_to_compiling_in_process(via_worker, monkeypatch):
    monkeypatch.setattr(worker, "RETRIES", 0)
    monkeypatch.setattr(worker, "_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced, w, losses, killed = _run_until_compiled(0.12, kill=1, variant=2)
    info = traced.last.exe.worker_info
    assert info["worker"] is False and "WorkerDied" in info["reason"]
    msgs = [str(c.message) for c in caught]
    assert any("compile worker failed (WorkerDied" in m and f"pid {killed[0]}" in m for m in msgs)
    assert traced.stats["compiled_calls"] == 3  # compiled in this process after all
    _matches_eager(w, losses, 0.12, variant=2)
