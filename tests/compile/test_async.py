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
from jitgrad.compile.backends import cache as _cache
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


def _run_until_compiled(lr, kill=0, timeout=90, variant=0, tier2=True):
    """Call the test step until a call ran compiled code; kill the worker ``kill`` times on
    the way, each after it has worked for half a second (it starts in ~0.5 s, the compile takes
    2-3 s). Two more calls, then (``tier2``) wait for the whole-step compile and two more.
    Returns (traced step, weight, every loss, killed pids); ``traced.tiers`` is the tier each
    compiled call ran, ``traced.killed_in`` the compile phase of each kill."""
    step, w, x = cw.make_step(torch, lr, variant)
    traced = torch.trace(step, async_compile=True)
    losses, killed = [], []
    blas = worker.numpy_blas_threads()
    traced.blas_while_compiling = set()  # NumPy's BLAS threads seen while the worker compiled
    traced.tiers, traced.killed_in, traced.nice = [], [], set()

    def call():
        n = traced.stats["compiled_calls"]
        losses.append(float(traced(x).item()))
        if traced.stats["compiled_calls"] > n:
            traced.tiers.append(traced.last.exe.tier)

    deadline = time.monotonic() + timeout
    while (traced.stats["compiled_calls"] == 0 or len(killed) < kill) and (
        time.monotonic() < deadline
    ):
        call()
        if traced.stats["captures"] and not traced.last.ready:
            traced.blas_while_compiling.add(worker.numpy_blas_threads())
            th = getattr(traced.last, "_thread", None)
            if th is not None and th.is_alive() and hasattr(os, "getpriority"):
                try:  # the compile thread's and the workers' priorities
                    traced.nice.add(("thread", os.getpriority(os.PRIO_PROCESS, th.native_id)))
                    busy = worker.busy()
                    for kind, pool in (("worker", worker._POOL), ("library", worker._LIBRARY)):
                        for p in worker._live(pool):
                            if p.pid in busy:
                                traced.nice.add((kind, os.getpriority(os.PRIO_PROCESS, p.pid)))
                except OSError:  # it ended (or a worker did) meanwhile
                    pass
        for pid, secs in worker.busy().items():
            if len(killed) < kill and pid not in killed and secs > 0.5:
                v = traced.last
                traced.killed_in.append(1 if v is not None and not v.ready else 2)
                os.kill(pid, 9)
                killed.append(pid)
        time.sleep(0.01)
    for _ in range(2):
        call()
    assert len(killed) == kill
    traced.wait()  # the compile thread puts NumPy's count back right after it is ready
    assert worker.numpy_blas_threads() == blas  # the count the compile found, put back
    if tier2:
        for _ in range(2):
            call()
    return traced, w, losses, killed


def _matches_eager(w, losses, lr, variant=0):
    ref = cw.eager_losses(len(losses), lr, variant)
    np.testing.assert_allclose(losses, ref, rtol=2e-5, atol=1e-7)
    wref = torch.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    assert not np.allclose(w.detach().numpy(), wref.numpy())  # training moved it


def _same_bits_with_llvm_kernels(exe, t1, arrays):
    """Tier 1's step over llvmlite kernels (those it lowers) gives tier 2's bits."""
    import copy

    from jitgrad.compile import tiers
    from jitgrad.compile.backends import llvm

    header, blocks, _ = tiers.split_kernels(exe.src)
    kernels, n = {}, 0
    for name, d in t1.kernel_fns:
        if isinstance(d, llvm.Kernel):  # JITGRAD_TIER1_LLVM on: built by tier 1 already
            kernels[name], n = d, n + 1
            continue
        sigs = list(d.overloads)
        try:
            kernels[name] = llvm.build(blocks[name], header, sigs[0], d)[0]
            n += 1
        except llvm.Unsupported:
            kernels[name] = d
    assert n >= 1, "no kernel of the test step lowered"
    t1l = copy.copy(t1)
    t1l.fn = tiers.python_step(exe.mod, kernels)
    a1, a2 = [a.copy() for a in arrays], [a.copy() for a in arrays]
    o1, o2 = t1l.run(a1), exe.run(a2)
    assert all(np.array_equal(o1[k], o2[k]) for k in o1)
    assert all(np.array_equal(x, y) for x, y in zip(a1, a2))


def test_worker_compiles_while_eager_calls_run(via_worker, monkeypatch):
    traced, w, losses, _ = _run_until_compiled(0.1)
    exe = traced.last.exe
    info = exe.worker_info
    assert info["worker"] is True and info["jobs"][0]["compiled"] == 1
    assert info["jobs"][0]["pid"] != os.getpid()
    assert exe.cache_hit  # this process loaded the code from disk ...
    assert not exe.fn.stats.cache_misses  # ... and compiled nothing itself
    assert traced.stats["eager_calls"] >= 3  # calls ran while the worker compiled
    assert traced.stats["compiled_calls"] == 5
    # the first compiled call ran tier 1 (the Python step over kernels the worker compiled
    # one by one), the last ones the whole step; the same bits either way
    ti = exe.tier_info
    assert traced.tiers[0] == 1 and traced.tiers[-2:] == [2, 2] and exe.tier == 2
    assert ti["tier1_seconds"] < ti["tier2_seconds"] and ti["tier1_kernels"] >= 2
    assert "tier1_in_process" not in ti  # the stub run found the types the calls have
    pids1 = {j["pid"] for j in ti["tier1_worker"]["jobs"]}  # the worker(s), not this process
    assert pids1 and os.getpid() not in pids1 and len(pids1) == ti["tier1_worker"]["workers"]
    assert info["jobs"][0]["callees_compiled"] == 0  # tier 2 linked tier 1's kernels
    t1 = exe.tier1_exe
    assert t1.fn.__name__ == "step_tier1" and not hasattr(t1.fn, "overloads")
    arrays = traced.last.gather(traced._last_call[2])
    a1, a2 = [a.copy() for a in arrays], [a.copy() for a in arrays]
    o1, o2 = t1.run(a1), exe.run(a2)
    assert o1.keys() == o2.keys() and all(np.array_equal(o1[k], o2[k]) for k in o1)
    assert all(np.array_equal(x, y) for x, y in zip(a1, a2))  # state written the same
    # tier 1 over the kernels llvmlite lowers (JITGRAD_TIER1_LLVM): the same bits as tier 2
    _same_bits_with_llvm_kernels(exe, t1, arrays)
    assert "running tier 2" in traced.explain() and "tier 1 (the step's Python" in traced.explain()
    _matches_eager(w, losses, 0.1)
    # another graph sharing kernels with this one, in a "new process" (the kernel modules
    # dropped from memory): the shared kernels load from disk, the worker compiles the others;
    # past JITGRAD_TIER2_MAX_STMTS the step stays at tier 1, and explain() says so
    kernels = {
        k: d for k, d in t1.fn.__globals__.items() if k.startswith("k_") and hasattr(d, "py_func")
    }
    for d in kernels.values():
        _cache._MEM.pop(d.py_func.__module__, None)
    monkeypatch.setenv("JITGRAD_TIER2_MAX_STMTS", "0")
    traced3, w3, losses3, _ = _run_until_compiled(0.1, variant=3, tier2=False)
    exe3 = traced3.last.exe
    ti3 = exe3.tier_info
    shared = set(kernels) & {k for k in exe3.fn.__globals__ if k.startswith("k_")}
    assert shared and ti3["tier1_shared"] == len(shared)
    assert not shared & {j["func"] for j in ti3["tier1_worker"]["jobs"]}  # compiled once
    for k in shared:
        d = exe3.fn.__globals__[k]
        assert d is not kernels[k] and _cache.loaded_from_disk(d, d.signatures[0])
    assert exe3.tier == 1 and set(traced3.tiers) == {1} and not hasattr(exe3, "worker_info")
    assert "stays at tier 1" in traced3.explain()
    _matches_eager(w3, losses3, 0.1, variant=3)

    # the same step again (as a warm process would): its call plan comes from the disk, no
    # stub run (a ResNet-18 step's takes seconds), nothing compiled
    def no_stub_run(*a, **k):
        raise AssertionError("the stub run ran again")

    step_calls = worker.step_calls
    monkeypatch.setattr(worker, "step_calls", no_stub_run)
    traced4, w4, losses4, _ = _run_until_compiled(0.1, variant=3, tier2=False)
    ti4 = traced4.last.exe.tier_info
    assert ti4.get("tier1_plan_stored") and ti4["tier1_compiled"] == 0, ti4
    assert "call plan stored by an earlier run" in traced4.explain()
    _matches_eager(w4, losses4, 0.1, variant=3)
    monkeypatch.setattr(worker, "step_calls", step_calls)
    if worker.numpy_blas_threads() is not None:  # NumPy's BLAS on one thread meanwhile
        assert traced.blas_while_compiling == {1}
    if hasattr(os, "getpriority"):  # the compile thread and the worker yield to the training
        mine = os.getpriority(os.PRIO_PROCESS, 0)  # thread; the worker is not niced twice
        want = max(mine, worker._NICE)
        # (the library worker, busy on a fresh install: lower still, below tier 1's jobs)
        assert ("thread", want) in traced.nice and traced.nice <= {
            ("thread", want),
            ("worker", want),
            ("library", max(mine, worker._LIBRARY_NICE)),
        }, traced.nice
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


def test_tier1_llvm_kernels_compile_in_the_worker(via_worker, monkeypatch):
    from jitgrad.compile.backends import llvm

    monkeypatch.setenv("JITGRAD_TIER1_LLVM", "1")
    monkeypatch.setattr(_cache, "_MEM", {})  # a "new process": no kernel module in memory
    monkeypatch.setenv("JITGRAD_TIER2_MAX_STMTS", "0")  # stays at tier 1: nothing else to wait
    traced, w, losses, _ = _run_until_compiled(0.1, variant=4, tier2=False)  # a new graph
    exe = traced.last.exe
    n, here, _, _, where = exe.tier_info["tier1_llvm"]
    assert where == "worker" and n >= 1 and here == 0  # the worker compiled the object code
    jobs = exe.tier_info["tier1_worker"]["jobs"]
    # one job a kernel, lowered there; one it cannot lower it compiles with numba instead
    llvm_jobs = [j for j in jobs if not j["func"].startswith("k_")]
    fell_back = sum(j["unsupported"] for j in llvm_jobs)
    assert len(llvm_jobs) == n + fell_back
    skipped = dict(exe.tier_info["tier1_llvm_skipped"])
    assert len(skipped) >= fell_back
    assert exe.tier_info["tier1_misses"] == 0  # nothing compiled in this process
    assert sum(isinstance(d, llvm.Kernel) for _, d in exe.kernel_fns) == n
    assert exe.tier == 1 and "tier1_llvm_errors" not in exe.tier_info
    assert f"{n} fused loop(s) compiled by llvmlite" in traced.explain()
    _matches_eager(w, losses, 0.1, variant=4)


def test_worker_killed_mid_compile_is_retried(via_worker):
    traced, w, losses, killed = _run_until_compiled(0.11, kill=1, variant=1)
    exe = traced.last.exe
    info = exe.worker_info
    assert info["worker"] is True and info["jobs"][0]["pid"] not in killed
    jobs = exe.tier_info["tier1_worker"]["jobs"]  # killed in either tier: retried there
    assert jobs and not {j["pid"] for j in jobs} & set(killed)
    assert traced.tiers[0] == 1 and traced.tiers[-1] == 2
    _matches_eager(w, losses, 0.11, variant=1)


def test_worker_dying_twice_falls_back_to_compiling_in_process(via_worker, monkeypatch):
    monkeypatch.setattr(worker, "RETRIES", 0)
    monkeypatch.setattr(worker, "_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced, w, losses, killed = _run_until_compiled(0.12, kill=1, variant=2)
    exe = traced.last.exe
    info = exe.worker_info
    msgs = [str(c.message) for c in caught]
    if traced.killed_in == [1]:  # tier 1 failed (no retry): the whole step in a new worker
        assert "WorkerDied" in exe.tier_info["tier1_error"] and info["worker"] is True
        assert any("tier 1 of the async compile failed (WorkerDied" in m for m in msgs)
        assert traced.tiers[0] == 2
    else:  # killed while compiling the whole step: compiled in this process after all
        assert info["worker"] is False and "WorkerDied" in info["reason"]
        assert any("compile worker failed (WorkerDied" in m for m in msgs)
    assert any(f"pid {killed[0]}" in m for m in msgs)
    assert traced.stats["compiled_calls"] >= 5 and traced.tiers[-1] == 2
    _matches_eager(w, losses, 0.12, variant=2)


def test_serial_twin_of_a_parallel_kernel():
    from jitgrad.compile import tiers

    block = (
        "@numba.njit(cache=CACHE, parallel=True, error_model='numpy')\n"
        "def k_1(o0, a0, par_t):\n    for j0 in prange(o0.shape[0]):\n        o0[j0] = a0[j0]"
    )
    twin = tiers.serial_twin(block)
    assert twin == block.replace("parallel=True", "parallel=False", 1)
    assert tiers.serial_twin(twin) is None  # a serial kernel has none


def test_split_kernels_finds_the_kernels_and_counts_the_step():
    from jitgrad.compile import tiers

    src = (
        "import numba\n_FM = ['reassoc']\n\n"
        "@numba.njit(cache=CACHE)\ndef k_1(o0, a0):\n    for j0 in range(o0.shape[0]):\n"
        "        o0[j0] = a0[j0]\n\n\n"
        "def _py0(*arrays):\n    return arrays[0]\n\n\n"
        "@numba.njit(cache=CACHE)\ndef k_2(o0):\n    o0[0] = 1\n\n\n"
        "@numba.njit(cache=CACHE)\ndef step(a, b):\n    k_1(a, b)\n"
        "    with numba.objmode(v1='float64[::1]'):\n        v1 = _py0(a)\n    k_2(v1)\n"
        "    return (v1, )\n"
    )
    header, blocks, n = tiers.split_kernels(src)
    assert header == "import numba\n_FM = ['reassoc']\n"
    assert list(blocks) == ["k_1", "k_2"]
    assert blocks["k_1"].startswith("@numba.njit") and blocks["k_1"].endswith("= a0[j0]")
    assert blocks["k_2"] == "@numba.njit(cache=CACHE)\ndef k_2(o0):\n    o0[0] = 1"
    assert n == 5  # the statements of step, the with block's body included


def test_tier1_slower_than_eager_warns_once_when_it_stays():
    from types import SimpleNamespace

    from jitgrad.compile import tiers

    def variant(tier1, eager, stays=True):
        info = {"tier2": "not compiled: too big"} if stays else {}
        exe = SimpleNamespace(tier=1, tier_info=info)
        return SimpleNamespace(
            fn_name="f", exe=exe, tier1_times=tier1, eager_times=eager, tier1_warned=False
        )

    slow = variant([2e-3] * 5, [1e-3] * 3)
    with pytest.warns(RuntimeWarning, match=r"stays at tier 1 .* 2\.00 ms against 1\.00 ms"):
        tiers.check_tier1(slow)
    assert slow.tier1_warned and slow.exe.tier_info["tier1_vs_eager"] == (2e-3, 1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiers.check_tier1(slow)  # once
        tiers.check_tier1(variant([2e-3] * 4, [1e-3] * 3))  # too few tier-1 calls yet
        tiers.check_tier1(variant([5e-4] * 5, [1e-3] * 3))  # faster than eager
        tiers.check_tier1(variant([2e-3] * 5, [1e-3] * 3, stays=False))  # tier 2 is coming
