"""The compile worker process (jitgrad/compile/worker.py) and the disk cache's bookkeeping:
compiles land on disk and load in the parent, errors come back, parallel kernels, LRU bound,
``cache_hit`` under NUMBA_CACHE_DIR."""

import os
import sys
import time

import numba
import numpy as np
import pytest

from jitgrad.compile import worker
from jitgrad.compile.backends import cache as jcache

SRC = """# test module {tag}
import numba
import numpy as np


@numba.njit(cache=CACHE)
def k_add(o, a, b):
    for i in range(o.shape[0]):
        o[i] = a[i] + b[i]


@numba.njit(cache=CACHE)
def k_mul(o, a, b):
    for i in range(o.shape[0]):
        o[i] = a[i] * b[i]


@numba.njit(cache=CACHE)
def step(a, b):
    o = np.empty_like(a)
    k_add(o, a, b)
    p = np.empty_like(a)
    k_mul(p, o, b)
    return p
"""

A = np.arange(5, dtype=np.float64)
B = np.full(5, 2.0)
VEC = numba.typeof(A)


@pytest.fixture(autouse=True)
def _fresh_workers():
    """Workers started for another test carry nothing over."""
    worker.shutdown()
    yield
    worker.shutdown()


def _module(tag):
    src = SRC.format(tag=tag)
    key = "t" + tag
    mod, _ = jcache.load_module(key, src)
    return key, src, mod


def _forget(mod):
    jcache._MEM.pop(mod.__name__, None)
    sys.modules.pop(mod.__name__, None)


def test_worker_compiles_into_the_cache_and_the_parent_loads_it(fresh_cache):
    key, src, mod = _module("load")
    fut = worker.submit(key, src, {"step": [(VEC, VEC)]}, path=mod.__file__, name=mod.__name__)
    info = fut.result(timeout=120)
    (job,) = info["jobs"]
    assert job["func"] == "step" and job["compiled"] == 1 and job["pid"] != os.getpid()
    assert jcache.has_compiled(mod.step, (VEC, VEC))
    assert not mod.step.signatures  # nothing compiled in this process yet
    mod.step.compile((VEC, VEC))
    assert jcache.loaded_from_disk(mod.step, (VEC, VEC))  # loaded, not compiled, here
    np.testing.assert_array_equal(mod.step(A, B), (A + B) * B)


def test_kernels_compile_in_parallel_before_the_step(fresh_cache, monkeypatch):
    monkeypatch.setenv("JITGRAD_COMPILE_WORKERS", "2")
    key, src, mod = _module("par")
    sigs = {"k_add": [(VEC, VEC, VEC)], "k_mul": [(VEC, VEC, VEC)], "step": [(VEC, VEC)]}
    info = worker.submit(key, src, sigs, path=mod.__file__, name=mod.__name__).result(120)
    jobs = {j["func"]: j for j in info["jobs"]}
    assert list(jobs)[-1] == "step"  # the step waits for its kernels
    assert jobs["k_add"]["pid"] != jobs["k_mul"]["pid"]  # one kernel per worker
    # the step found both kernels on disk, so only its own code was compiled for it
    assert all(jobs[k]["compiled"] == 1 for k in jobs)
    mod.step.compile((VEC, VEC))
    assert jcache.loaded_from_disk(mod.step, (VEC, VEC))


def test_compile_error_comes_back_and_the_fallback_compiles_here(fresh_cache):
    key, src, mod = _module("err")
    bad = (numba.types.unicode_type, VEC)  # str + array: numba's typing fails
    with pytest.raises(worker.WorkerError, match="step"):
        worker.submit(key, src, {"step": [bad]}, path=mod.__file__, name=mod.__name__).result(120)
    with pytest.warns(RuntimeWarning, match="compile worker failed .*WorkerError"):
        info = worker.compile_in_worker(mod, key + "x", src, {"step": [bad]})
    assert info["worker"] is False and "WorkerError" in info["reason"]


def test_worker_killed_mid_compile_is_replaced_and_the_job_retried(fresh_cache, monkeypatch):
    key, src, mod = _module("kill")
    fut = worker.submit(key, src, {"step": [(VEC, VEC)]}, path=mod.__file__, name=mod.__name__)
    (pid,) = worker.busy()
    os.kill(pid, 9)
    info = fut.result(timeout=120)
    assert info["jobs"][0]["pid"] != pid and info["jobs"][0]["compiled"] == 1
    # no retries left: the future says what happened
    monkeypatch.setattr(worker, "RETRIES", 0)
    key2, src2, mod2 = _module("kill2")
    fut = worker.submit(key2, src2, {"step": [(VEC, VEC)]}, path=mod2.__file__, name=mod2.__name__)
    (pid,) = worker.busy()
    os.kill(pid, 9)
    with pytest.raises(worker.WorkerDied, match=f"pid {pid}.*signal 9"):
        fut.result(timeout=120)


def test_worker_off_or_no_disk_cache_means_in_process(fresh_cache, monkeypatch):
    key, src, mod = _module("off")
    monkeypatch.setenv("JITGRAD_COMPILE_WORKERS", "0")
    assert worker.compile_in_worker(mod, key, src, (VEC, VEC))["worker"] is False
    monkeypatch.delenv("JITGRAD_COMPILE_WORKERS")
    mem, _ = jcache.load_module("tmem", SRC.format(tag="mem"), use_cache=False)
    info = worker.compile_in_worker(mem, "tmem", "", (VEC, VEC))
    assert info == {"worker": False, "reason": "no disk cache for this module"}
    assert worker.pids() == []  # no worker was started for either


def _entry_sizes():
    return {name: size for (_, name), (size, _, _) in jcache.entries().items()}


def test_eviction_keeps_the_cache_under_its_bound(fresh_cache, monkeypatch):
    mods = []
    for i in range(4):
        _, _, mod = _module(f"lru{i}")
        mod.k_add.compile((VEC, VEC, VEC))  # real numba files on disk
        mods.append(mod)
        _forget(mod)
    sizes = _entry_sizes()
    assert len(sizes) == 4 and min(sizes.values()) > 1000
    now = time.time()
    for i, mod in enumerate(mods):  # entry 0 used least recently, entry 3 most recently
        os.utime(
            os.path.join(os.path.dirname(mod.__file__), mod.__name__ + ".lru"), (now, now - 100 + i)
        )
    per = max(sizes.values())
    left = jcache.evict(limit=2 * per + 10)
    assert left <= 2 * per + 10
    assert sorted(_entry_sizes()) == sorted(m.__name__ for m in mods[2:])  # the two newest
    # loading a new entry evicts by itself under JITGRAD_CACHE_MAX_MB
    monkeypatch.setenv("JITGRAD_CACHE_MAX_MB", str(1.5 * per / 2**20))
    _, _, new = _module("lru_new")
    new.k_add.compile((VEC, VEC, VEC))
    _forget(new)
    _, _, newer = _module("lru_newer")  # written now: the bound is enforced
    total = sum(_entry_sizes().values())
    assert total <= 1.5 * per
    assert newer.__name__ in _entry_sizes()  # an entry in use is never evicted
    # an evicted entry is simply compiled again
    _, _, again = _module("lru0")
    np.testing.assert_array_equal(again.step(A, B), (A + B) * B)


def test_cache_hit_is_reported_when_numba_cache_dir_is_set(fresh_cache, tmp_path, monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "numba"))
    key, src, mod = _module("ncd")
    mod.step.compile((VEC, VEC))
    here = os.path.dirname(mod.__file__)  # numba's files went to NUMBA_CACHE_DIR, not here
    assert not [f for _, _, fs in os.walk(here) for f in fs if f.endswith((".nbi", ".nbc"))]
    _forget(mod)
    mod2, hit = jcache.load_module(key, src)
    assert hit and mod2 is not mod
    mod2.step.compile((VEC, VEC))
    assert jcache.loaded_from_disk(mod2.step, (VEC, VEC))
    _forget(mod2)
    assert sum(_entry_sizes().values()) > 0  # entries() sees numba's files there too


def test_kernel_signatures_are_found_without_compiling(fresh_cache, monkeypatch):
    monkeypatch.setenv("JITGRAD_COMPILE_WORKERS", "2")
    key, src, mod = _module("sigs")
    found = worker.kernel_signatures(mod, [A, B])
    assert found == {"k_add": [(VEC, VEC, VEC)], "k_mul": [(VEC, VEC, VEC)]}
    assert not mod.k_add.signatures and not mod.step.signatures  # nothing was compiled
    info = worker.compile_in_worker(mod, key, src, {**found, "step": [(VEC, VEC)]})
    jobs = {j["func"]: j for j in info["jobs"]}
    assert info["workers"] == 2 and jobs["step"]["callees_compiled"] == 0  # all found ready
    mod.step.compile((VEC, VEC))
    np.testing.assert_array_equal(mod.step(A, B), (A + B) * B)


def test_stub_run_of_a_real_step_leaves_its_live_inputs_alone(fresh_cache):
    """The stub run (tier 1's signature finder) runs in the compile thread while eager calls
    run: it must not write the step's in-place updates into the live state. Broken once: a
    step counter moved one extra time, a traced DDP step's parameters got garbage."""
    import jitgrad as torch

    w = torch.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    n = torch.zeros(1)

    def step(x):
        w.grad = None
        loss = ((w @ x).tanh() ** 2).sum()
        loss.backward()
        with torch.no_grad():
            w.sub_(w.grad * 0.1)
            n.add_(1.0)  # a scalar state write in the step function itself, not in a kernel
        return loss.detach()

    x = torch.tensor(np.arange(6, dtype=np.float32).reshape(3, 2) / 6)
    traced = torch.trace(step, async_compile=False)
    traced(x), traced(x)  # warm-up, capture: the variant exists, nothing compiled yet
    v = traced.last
    exe = v.exe
    assert "_cv(in2, (1,))[0] = " in exe.src  # the write this test is about
    arrays = v.gather(traced._last_call[2])
    before = [a.copy() for a in arrays]
    calls = worker.step_calls(exe.mod, [np.ascontiguousarray(a) for a in exe._args(arrays)])
    assert calls and any(m is None for m, _ in calls)  # it ran and found the kernels
    assert not exe.fn.signatures  # nothing compiled
    assert all(np.array_equal(a, b) for a, b in zip(arrays, before))
    assert n.item() == 2.0


def test_stub_run_records_a_threaded_driver_as_its_serial_kernel_and_runs_nothing():
    """In the stub run the threaded drivers (plain Python in an object-mode block of a step
    built with ``K.PAR_MIN`` lowered) must not run either: on the stub run's garbage indices
    ``max_pool2d_backward_threads`` scattered out of bounds and killed the process (a
    segfault of the MNIST CNN's first traced call). They record their serial kernel."""
    from jitgrad.ops import _conv_kernels as CK

    found = {}
    stub = worker._ModStub(CK, found)
    g = np.ones((2, 3, 2, 2), np.float32)
    idx = np.zeros(g.shape, np.int64)  # in bounds: a regression fails here, not in a crash
    dx = np.full((2, 3, 4, 4), 7.0, np.float32)
    stub.max_pool2d_backward_threads(g, idx, dx, 2, 2, 2, 2, 0, 0, 1, 1)
    x = np.ones((2, 3, 4, 4), np.float32)
    w = np.ones((5, 3, 3, 3), np.float32)
    y = np.full((2, 5, 2, 2), 7.0, np.float32)
    stub.conv2d_threads(x, w, y, 1, 1, 0, 0, 1, 1, 1, CK.FWD)
    assert (dx == 7).all() and (y == 7).all()  # nothing ran
    sig = tuple(numba.typeof(a) for a in (g, idx, dx, 2, 2, 2, 2, 0, 0, 1, 1))
    assert found[(CK.__name__, "max_pool2d_backward")] == [sig]
    assert list(found) == [(CK.__name__, "max_pool2d_backward"), (CK.__name__, "conv2d")]
    assert stub.NCHUNK == CK.NCHUNK  # constants are the module's own
    stub._executor(1)  # any other plain function: a no-op stub, nothing recorded
    assert len(found) == 2


def test_numpy_blas_hold_is_one_thread_and_restores_the_count(monkeypatch):
    lib = worker._numpy_blas()
    if lib is None:
        pytest.skip("NumPy's OpenBLAS not found (not Linux, or another BLAS)")
    from jitgrad.compile.backends import cpu_kernels as K

    get, set_ = lib
    before = get()
    scipy_get = None
    if K._BLAS_SET is not None:  # the OpenBLAS that compiled code calls (scipy's)
        import ctypes

        scipy_get = getattr(ctypes.CDLL(K._BLAS_LIB), K._BLAS_SET.replace("_set_", "_get_"))
    scipy_before = scipy_get() if scipy_get else None
    try:
        set_(2)
        assert not worker.blas_held()
        assert worker.hold_blas() and get() == 1 and worker.blas_held()
        assert worker.hold_blas() and get() == 1  # nested: the inner release keeps it
        worker.release_blas()
        assert get() == 1
        worker.release_blas()
        assert get() == 2 and not worker.blas_held()  # exactly the count the first hold found
        worker.release_blas()  # an unmatched release changes nothing
        assert get() == 2
        worker.hold_blas()
        # the BLAS of compiled code (scipy's) is another library, left alone
        assert get() == 1 and (scipy_get is None or scipy_get() == scipy_before)
        set_(3)  # the user changed it meanwhile: theirs is kept
        worker.release_blas()
        assert get() == 3
        set_(2)
        monkeypatch.setenv("JITGRAD_BLAS_HOLD", "0")
        assert not worker.hold_blas() and get() == 2 and not worker.blas_held()
    finally:
        set_(before)
