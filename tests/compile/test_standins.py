"""NumPy stand-ins of the library kernels (``cpu_kernels.STANDINS``) and tier 1 running them.

On a fresh install numba's cache beside the package is empty, and a tier-1 step waited for
numba to compile ``K.gemm``, ``K.sum3`` ... (~5 s of the MNIST MLP's 6-7 s to its first
compiled call). Tier 1 now runs their NumPy stand-ins until the worker has compiled them,
then swaps the compiled ones in. These tests check that every stand-in computes what its
kernel computes (values, the state it writes, its errors), and the swap in the default async
mode: stand-ins first, matching eager; the compiled kernels after; a failed compile keeps the
stand-ins and says so.
"""

import concurrent.futures
import os
import threading
import time

import numpy as np
import pytest

import jitgrad as torch
from jitgrad.compile import tiers, worker
from jitgrad.compile.backends import cache as _cache
from jitgrad.compile.backends import cpu_kernels as K

from .test_async import _matches_eager, cw, via_worker  # noqa: F401  (a fixture)

_RNG = np.random.default_rng(7)


def _x(*shape, dtype=np.float32):
    return _RNG.standard_normal(shape).astype(dtype)


def _idx(n, *shape):
    return _RNG.integers(0, n, shape).astype(np.int64)


# (kernel name, its arguments, indices of the arguments it writes); both run on copies
CASES = [
    ("gemm", lambda: (_x(5, 7), _x(7, 3), np.zeros((5, 3), np.float32), 0, 1), [2]),
    (
        "gemm",
        lambda: (_x(7, 5).T, _x(3, 7, dtype=np.float32).T, np.zeros((5, 3), np.float32), 0, 1),
        [2],
    ),
    (
        "gemm",
        lambda: (_x(4, 6, dtype=np.float64), _x(6, 2, dtype=np.float64), np.zeros((4, 2)), 0, 1),
        [2],
    ),
    ("bmm", lambda: (_x(2, 3, 4), _x(2, 4, 5), np.zeros((2, 3, 5), np.float32)), [2]),
    ("sum3", lambda: (_x(3, 5000, 1), np.zeros((3, 1), np.float32)), [1]),  # row chunks
    ("sum3", lambda: (_x(2, 9, 70), np.zeros((2, 70), np.float32)), [1]),  # column blocks
    ("sum3", lambda: (_x(2, 0, 3), np.ones((2, 3), np.float32)), [1]),  # nothing to sum
    ("sum3_par", lambda: (_x(4, 33, 5, dtype=np.float64), np.zeros((4, 5)), 1), [1]),
    ("prod3", lambda: (_x(3, 6, 2), np.zeros((3, 2), np.float32)), [1]),
    ("max3", lambda: (_x(3, 8, 4), np.zeros((3, 4), np.float32)), [1]),
    ("max3", lambda: (_nan(_x(3, 8, 1)), np.zeros((3, 1), np.float32)), [1]),  # NaN wins
    ("max3_par", lambda: (_x(3, 8, 4), np.zeros((3, 4), np.float32), 1), [1]),
    ("min3", lambda: (_nan(_x(2, 5, 3)), np.zeros((2, 3), np.float32)), [1]),
    ("min3", lambda: (_x(2, 0, 3), np.zeros((2, 3), np.float32)), [1]),  # +inf
    ("combine", lambda: (K.SUM, _x(4, 3, dtype=np.float64), np.zeros((4, 1), np.float32)), [2]),
    ("combine", lambda: (K.MAX, _x(4, 3, dtype=np.float64), np.zeros((4, 2), np.float32)), [2]),
    ("arg3", lambda: (True, _nan(_x(3, 6, 2)), np.zeros((3, 2), np.int64)), [2]),
    ("arg3", lambda: (False, _x(3, 6, 2), np.zeros((3, 2), np.int64)), [2]),
    ("anyall3", lambda: (True, _sparse(_x(3, 4, 2)), np.zeros((3, 2), np.bool_)), [2]),
    ("anyall3", lambda: (False, _sparse(_x(3, 4, 2)), np.zeros((3, 2), np.bool_)), [2]),
    ("gather3", lambda: (_x(2, 5, 3), _idx(5, 2, 4, 3), np.zeros((2, 4, 3), np.float32)), [2]),
    ("scatter_add3", lambda: (_x(2, 5, 3), _idx(5, 2, 7, 3), _x(2, 7, 3)), [0]),  # repeats add
    ("take3", lambda: (_x(2, 5, 3), _idx(5, 6) - 2, np.zeros((2, 6, 3), np.float32)), [2]),
    ("put_add3", lambda: (_x(2, 5, 3), _idx(5, 8) - 2, _x(2, 8, 3)), [0]),  # negative wrap
]


def _nan(x):
    x.reshape(-1)[3] = np.nan
    return x


def _sparse(x):
    x[x < 0.3] = 0
    x[0, :, 0] = 0  # a row with no non-zero element
    x[1, :, 1] = np.nan  # NaN counts as true
    return x


@pytest.mark.parametrize(
    "name,make,written", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_standin_computes_what_its_kernel_computes(name, make, written):
    args = make()
    a1 = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    a2 = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    getattr(K, name)(*a1)
    K.STANDINS[name](*a2)
    for i in written:
        exact = name not in (
            "gemm",
            "bmm",
            "sum3",
            "sum3_par",
            "prod3",
            "combine",
            "scatter_add3",
            "put_add3",
        )
        if exact:  # order-free results: the same bits
            np.testing.assert_array_equal(a2[i], a1[i])
        else:  # NumPy's order of additions (pairwise, its BLAS kernel): rounding apart
            tol = 1e-5 if a1[i].dtype == np.float32 else 1e-12
            np.testing.assert_allclose(a2[i], a1[i], rtol=tol, atol=tol)
    for i, a in enumerate(args):  # nothing else written
        if i not in written and isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a1[i], a, err_msg="the kernel wrote an input")
            np.testing.assert_array_equal(a2[i], a, err_msg="the stand-in wrote an input")


BAD = [
    (
        "gather3",
        (_x(2, 5, 3), np.full((2, 1, 3), 5), np.zeros((2, 1, 3), np.float32)),
        "gather: index out of bounds",
    ),
    (
        "gather3",
        (_x(2, 5, 3), np.full((2, 1, 3), -1), np.zeros((2, 1, 3), np.float32)),
        "gather: index out of bounds",
    ),
    (
        "scatter_add3",
        (_x(2, 5, 3), np.full((2, 1, 3), 9), _x(2, 1, 3)),
        "scatter_add: index out of bounds",
    ),
    (
        "take3",
        (_x(2, 5, 3), np.array([0, -6]), np.zeros((2, 2, 3), np.float32)),
        "index: index out of bounds",
    ),
    ("put_add3", (_x(2, 5, 3), np.array([5]), _x(2, 1, 3)), "index: index out of bounds"),
    (
        "check_range",
        (np.array([[0, 3]]), 3, "embedding: index out of range"),
        "embedding: index out of range",
    ),
]


@pytest.mark.parametrize("name,args,msg", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_standin_raises_its_kernels_error(name, args, msg):
    for fn in (getattr(K, name), K.STANDINS[name]):
        a = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
        with pytest.raises(IndexError, match=msg):
            fn(*a)


def test_every_library_function_the_step_calls_by_name_has_a_standin_or_is_waited_for():
    # the names the generated CPU code calls as ``K.<name>`` (cpu.py); a new one without a
    # stand-in is only slower on a fresh install (tier 1 waits for it), never wrong
    import re
    from pathlib import Path

    src = Path(tiers.__file__).with_name("backends").joinpath("cpu.py").read_text()
    called = set(re.findall(r"K\.([a-z_0-9]+)\(", src)) - {"wide_vectors"}
    called |= {f"{op}3{par}" for op in ("sum", "prod", "max", "min") for par in ("", "_par")}
    assert called - set(K.STANDINS) == set(), called - set(K.STANDINS)


# ---- tier 1 with stand-ins, the default async mode --------------------------------------
def _library(fn):
    return getattr(getattr(fn, "py_func", None), "__module__", None) == K.__name__


@pytest.fixture
def cold_library(via_worker, monkeypatch):  # noqa: F811
    """Tier 1 finds jitgrad's library kernels "not compiled" (a fresh install), and their
    compile job waits for ``gate`` (set it to let the worker compile them; ``fail``: the job
    fails instead)."""
    monkeypatch.setattr(_cache, "_MEM", {})  # a "new process": no kernel module in memory
    monkeypatch.setenv("JITGRAD_TIER2_MAX_STMTS", "0")  # stays at tier 1
    real_todo, real_submit = tiers._todo, worker.submit_jobs
    monkeypatch.setattr(
        tiers, "_todo", lambda fn, sigs: list(sigs) if _library(fn) else real_todo(fn, sigs)
    )
    ctl = {"gate": threading.Event(), "fail": False, "jobs": []}

    def submit(key, jobs, on_result=None, library=False):
        if not all(m == K.__name__ for m, *_ in jobs):
            return real_submit(key, jobs, on_result, library)
        assert library  # in the library worker: never in front of tier 1's jobs
        ctl["jobs"].append(jobs)
        fut = concurrent.futures.Future()

        def later():
            ctl["gate"].wait(60)
            if ctl["fail"]:
                fut.set_exception(RuntimeError("the worker ran out of memory"))
                return
            try:
                fut.set_result(real_submit(key, jobs, on_result, library).result())
            except Exception as e:
                fut.set_exception(e)

        threading.Thread(target=later, daemon=True).start()
        return fut

    monkeypatch.setattr(worker, "submit_jobs", submit)
    yield ctl
    ctl["gate"].set()


def _until(traced, call, cond, timeout=90):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        call()
        time.sleep(0.005)
    assert cond(), traced.explain() if traced.stats["captures"] else "nothing captured"


def _run(traced, x, losses):
    def call():
        losses.append(float(traced(x).item()))

    return call


def _compiled(lr, variant, calls):
    """The test step traced (default async mode), called until ``calls`` calls ran compiled:
    (traced, its weight, the losses so far, one more call)."""
    step, w, x = cw.make_step(torch, lr, variant)
    traced = torch.trace(step, async_compile=True)
    losses = []
    call = _run(traced, x, losses)
    _until(traced, call, lambda: traced.stats["compiled_calls"] >= calls)
    return traced, w, losses, call


def test_tier1_runs_standins_until_the_library_kernels_compile(cold_library):
    traced, w, losses, call = _compiled(0.13, 5, 3)
    exe = traced.last.exe
    assert exe.tier == 1 and "K.gemm" not in exe.tier_info["tier1_standins"]
    assert "cpu_kernels.gemm" in exe.tier_info["tier1_standins"]
    mod_copy = exe.fn.__globals__["K"]
    assert mod_copy is not K and mod_copy.gemm is K.STANDINS["gemm"]  # NumPy's, for now
    assert "cpu_kernels.gemm" in traced.explain().split("not compiled yet on this install")[0]
    assert "tier 1 ran NumPy stand-ins first, their compile is running" in traced.explain()
    assert cold_library["jobs"] and all(
        j[2] in K.STANDINS for jobs in cold_library["jobs"] for j in jobs
    )
    n = traced.stats["compiled_calls"]
    cold_library["gate"].set()  # the worker compiles them now
    _until(traced, call, lambda: exe.tier_info.get("tier1_standins_seconds") is not None)
    assert mod_copy.gemm is K.gemm and K.gemm is not K.STANDINS["gemm"]  # swapped in
    lib = worker._live(worker._LIBRARY)  # it compiled them, at a priority below tier 1's jobs
    assert lib
    if hasattr(os, "getpriority"):
        want = max(os.getpriority(os.PRIO_PROCESS, 0), worker._LIBRARY_NICE)
        assert [os.getpriority(os.PRIO_PROCESS, p.pid) for p in lib] == [want] * len(lib)
        assert worker._LIBRARY_NICE > worker._NICE
    assert "the compiled ones swapped in after" in traced.explain()
    for _ in range(3):
        call()
    assert traced.stats["compiled_calls"] > n + 2
    _matches_eager(w, losses, 0.13, variant=5)  # stand-ins, kernels, eager: one program


def test_a_failed_library_compile_keeps_the_standins_and_says_so(cold_library):
    cold_library["fail"] = True
    cold_library["gate"].set()
    step, w, x = cw.make_step(torch, 0.14, 6)
    traced = torch.trace(step, async_compile=True)
    losses = []
    call = _run(traced, x, losses)
    failed = lambda: (  # noqa: E731
        traced.stats["compiled_calls"] >= 1 and "tier1_standins_error" in traced.last.exe.tier_info
    )
    msg = r"library kernels .*cpu_kernels\.gemm.* could not be compiled .*out of memory.*stand-ins"
    with pytest.warns(RuntimeWarning, match=msg):  # from the compile thread
        _until(traced, call, failed)
    exe = traced.last.exe
    assert exe.fn.__globals__["K"].gemm is K.STANDINS["gemm"]
    assert "not swapped in (RuntimeError: the worker ran out of memory)" in traced.explain()
    for _ in range(3):
        call()
    _matches_eager(w, losses, 0.14, variant=6)


# ---- the convolution, pooling and padding kernels' stand-ins (ops/conv.py) ----------------
# Each against its op's reference implementation (the oracle the kernels are tested against
# in the op tables), called with the arguments the generated code passes the kernel
# (``extra["kernel_static"]``): the padding the kernel is not given comes from the shapes.
def _conv_cases():
    from jitgrad.ops import conv as C

    geos = [  # x shape, w shape, stride, padding (t, b, l, r), dilation, groups
        ((2, 4, 7, 6), (6, 2, 3, 2), (2, 1), (1, 2, 0, 1), (1, 2), 2),
        ((1, 3, 5, 5), (4, 3, 2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 1),  # a row left unread
        ((2, 3, 6, 6), (3, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 3),  # depthwise
    ]
    out = []
    for xs, ws, st, pad, dil, gr in geos:
        p = dict(stride=st, padding=pad, dilation=dil, groups=gr)
        x, w = _x(*xs, dtype=np.float64), _x(*ws, dtype=np.float64)
        y = C._conv2d_ref(x, w, **p)
        g = _x(*y.shape, dtype=np.float64)
        out += [
            (C.conv2d_p, (x, w), p),
            (C.conv2d_grad_input_p, (g, w), dict(p, in_hw=xs[2:])),
            (C.conv2d_grad_weight_p, (x, g), dict(p, ksize=ws[2:])),
        ]
    for xs, k, st, pad, out_hw in [
        ((2, 3, 8, 6), (3, 2), (2, 2), (1, 1, 0, 0), (4, 3)),
        ((2, 3, 8, 6), (3, 2), (2, 2), (1, 1, 0, 0), (5, 3)),  # ceil_mode: one more window
        ((1, 2, 5, 5), (2, 2), (1, 1), (0, 0, 0, 0), (4, 4)),
    ]:
        p = dict(ksize=k, stride=st, padding=pad, dilation=(1, 1), out_hw=out_hw)
        x = _x(*xs, dtype=np.float64)
        idx = C._flat_indices(x, **p)
        g = _x(*idx.shape, dtype=np.float64)
        out += [
            (C.max_pool2d_p, (x,), p),
            (C.max_pool2d_indices_p, (x,), p),
            (C.max_pool2d_grad_p, (g, idx), dict(p, in_hw=xs[2:])),
            (C.max_pool2d_gather_p, (x, idx), p),
        ]
    x = _x(2, 3, 4, 5)
    out.append(
        (C.pad_p, (x,), dict(pads=((0, 0), (1, 2), (0, 0), (3, 0)), value=1.5, shape=x.shape))
    )
    out.append(
        (C.pad_p, (x,), dict(pads=((1, 0), (0, 0), (2, 2), (0, 1)), value=-2.0, shape=x.shape))
    )
    return out


def test_conv_pool_and_pad_standins_compute_what_their_references_compute():
    from jitgrad.ops import _conv_kernels as CK

    cases = _conv_cases()
    assert len(cases) == 23
    seen = set()
    for prim, arrays, p in cases:
        extra = prim.extra
        kernel = extra["kernel"].__name__
        seen.add(kernel)
        want = extra["ref"](*arrays, **p)
        out = np.full(want.shape, np.nan, want.dtype)
        args = (*arrays, out, *extra["kernel_static"](**p))
        CK.STANDINS[kernel](*args)
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=0, err_msg=f"{prim.name} {p}")
        threads = extra.get("kernel_threads")
        if threads is not None:  # the threaded driver has the same stand-in
            assert CK.STANDINS[threads.__name__] is CK.STANDINS[kernel]
    # every kernel a generated step calls as ``CK.<name>`` has one
    assert seen == {
        "conv2d", "max_pool2d_values", "max_pool2d_indices", "max_pool2d_backward",
        "max_pool2d_gather", "constant_pad",
    }  # fmt: skip
    assert seen | {
        "conv2d_threads",
        "max_pool2d_values_threads",
        "max_pool2d_backward_threads",
    } == set(CK.STANDINS)


def test_library_kernels_compile_in_a_worker_of_their_own(via_worker):  # noqa: F811
    # a library kernel's first compile (seconds to a minute) never sits in front of a step's
    # tier-1 jobs: they go to different worker processes
    import numba

    sig = (numba.types.int64, numba.types.float64[:, ::1], numba.types.float32[:, ::1])
    job = [(K.__name__, None, "combine", [sig])]  # compiled already: loads from disk
    lib = worker.submit_jobs("test-library", job, library=True).result(timeout=120)
    step = worker.submit_jobs("test-step", job).result(timeout=120)
    (a,), (b,) = lib["jobs"], step["jobs"]
    assert a["pid"] != b["pid"] and {a["pid"], b["pid"]} <= set(worker.pids())
    assert worker._LIBRARY.limit == 1 and [p.pid for p in worker._LIBRARY.procs] == [a["pid"]]


def test_a_library_kernel_on_disk_is_loaded_after_tier_1s_first_call(via_worker, monkeypatch):  # noqa: F811
    """A library kernel numba has on disk but this process has not loaded yet (a new
    process: ``K.gemm`` is a fresh dispatcher here) runs as its stand-in at tier 1 and is
    loaded after the first tier-1 call (numba's cache load is ~5 ms of Python a signature,
    taken from the eager calls' GIL before): loaded from disk, never compiled again."""
    import numba

    monkeypatch.setenv("JITGRAD_TIER2_MAX_STMTS", "0")  # stays at tier 1
    monkeypatch.setattr(_cache, "_MEM", {})  # this test's kernel modules: gone after it
    traced, *_ = _compiled(0.15, 7, 1)  # a first process: K.gemm's signatures on disk
    traced.last.wait()
    sigs = list(K.gemm.overloads)
    assert sigs and all(_cache.has_compiled(K.gemm, s) for s in sigs)

    fresh = numba.njit(**K._NB)(K.gemm.py_func)  # the same kernel, nothing loaded
    assert not fresh.overloads
    monkeypatch.setattr(K, "gemm", fresh)
    monkeypatch.setattr(_cache, "_MEM", {})  # no kernel module in memory either
    jobs, real_submit = [], worker.submit_jobs

    def submit(key, js, on_result=None, library=False):
        jobs.extend(j for j in js if j[0] == K.__name__)
        return real_submit(key, js, on_result, library)

    monkeypatch.setattr(worker, "submit_jobs", submit)
    traced, w, losses, call = _compiled(0.16, 8, 1)
    exe = traced.last.exe
    assert exe.tier == 1 and "cpu_kernels.gemm" in exe.tier_info["tier1_standins_on_disk"]
    _until(traced, call, lambda: exe.tier_info.get("tier1_standins_seconds") is not None)
    assert exe.fn.__globals__["K"].gemm is fresh and fresh.overloads  # swapped in, loaded
    assert sum(fresh.stats.cache_misses.values()) == 0  # from disk, not compiled here
    assert not [j for j in jobs if j[2] == "gemm"]  # nor in the worker
    text = traced.explain()
    assert "cpu_kernels.gemm" in text.split("compiled, loaded after tier 1's first call")[0]
    assert "the compiled ones swapped in after" in text
    for _ in range(3):
        call()
    _matches_eager(w, losses, 0.16, variant=8)
