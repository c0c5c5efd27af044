"""Parallel loops that pay: the calibrated serial/prange threshold, the run-time choice inside
generated kernels, deterministic parallel reductions, and numba's OpenMP policy kept out of
``os.environ``."""

import json
import math
import os
import re
import subprocess
import sys

import numba
import numpy as np
import pytest

import jitgrad as jg
from jitgrad.compile.backends import calibrate
from jitgrad.compile.backends import cpu_kernels as K

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def calib(monkeypatch, tmp_path):
    """Calibration switched on, a private cache directory, no remembered table."""
    monkeypatch.setenv("JITGRAD_CALIBRATE", "1")
    monkeypatch.delenv("JITGRAD_PAR_THRESHOLD", raising=False)
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delitem(calibrate._STATE, "table", raising=False)
    monkeypatch.setattr(calibrate, "_others_now", lambda: 0.0)  # a quiet machine
    yield tmp_path
    calibrate._STATE.pop("table", None)


def _rows(pays_from):
    """Synthetic measurements: parallel twice as fast from ``pays_from`` elements on."""
    return [(n, 1.0, 0.5 if n >= pays_from else 1.2) for n in calibrate.SIZES]


def _gemm(pays_from):
    return [(m * 784 * 256, 1.0, 0.5 if m * 784 * 256 >= pays_from else 1.0) for m in (8, 64, 512)]


def _plan(mnk):
    """``blas_plan()`` expected when GEMMs pay for threads from ``mnk`` (inf: never, and then
    every GEMM still gets a thread slot at OpenBLAS's own rule, as NumPy's calls do: the
    run-time plan decides)."""
    mnk = 1 if math.isinf(mnk) else mnk
    if K.NUMPY_BLAS is None:  # numba's np.dot (scipy's OpenBLAS), numba's thread count
        nt = numba.config.NUMBA_NUM_THREADS
        return None if nt < 2 else (mnk, nt)
    if calibrate.blas_threads() < 2:
        return (calibrate.NEVER_GEMM, 1)
    return (mnk, 0)  # NumPy's pool, at its own thread count


def test_threshold_is_the_size_from_which_parallel_keeps_paying():
    (_, wl, _, _), (_, wh, _, _) = calibrate.KERNELS
    never = [(n, 1.0, 1.0) for n in calibrate.SIZES]  # equal is not "pays": needs MARGIN
    tab = calibrate.thresholds({"light": never, "heavy": _rows(1 << 16)})
    assert tab == [(wl, math.inf), (wh, (1 << 16) * wh)]
    # paying at small sizes only (noise) does not count: it must hold up to the largest size
    flaky = [(n, 1.0, 0.5 if n < (1 << 18) else 1.0) for n in calibrate.SIZES]
    assert calibrate.thresholds({"light": flaky, "heavy": flaky})[0][1] == math.inf
    # GEMMs: threads paying at the smallest size timed leave the small ones to OpenBLAS (1)
    assert calibrate.gemm_threshold(_gemm(1 << 24)) == 512 * 784 * 256
    assert calibrate.gemm_threshold(_gemm(0)) == 1
    assert calibrate.gemm_threshold(_gemm(math.inf)) == math.inf


def test_calibrated_once_then_read_from_disk(calib, monkeypatch):
    calls = []

    def fake_measure():
        calls.append(1)
        return {"light": _rows(1 << 20), "heavy": _rows(1 << 14), "gemm": _gemm(1 << 24)}

    monkeypatch.setattr(calibrate, "measure", fake_measure)
    wl, wh = calibrate.KERNELS[0][1], calibrate.KERNELS[1][1]
    # a light loop (below the heavy kernel's work) follows the light kernel's threshold
    assert calibrate.par_threshold(wl) == 1 << 20
    assert calibrate.par_threshold(wh + 5) == math.ceil((1 << 14) * wh / (wh + 5))
    assert calls == [1]
    with open(calib / "calibration.json") as f:
        (entry,) = json.load(f).values()
    assert entry["table"] == [[wl, float((1 << 20) * wl)], [wh, float((1 << 14) * wh)]]
    # a new process (no table in memory) reads the file instead of timing again
    calibrate._STATE.pop("table")
    monkeypatch.setattr(calibrate, "measure", lambda: pytest.fail("calibrated twice"))
    assert calibrate.par_threshold(wl) == 1 << 20
    assert calibrate.blas_plan() == _plan(512 * 784 * 256)
    assert "from" in calibrate.describe()


def test_spinning_blas_workers_measured_once_per_machine(calib, monkeypatch):
    """The calibration times a serial loop right after a threaded GEMM against one before
    any: serial trial blocks wait ``SETTLE_S`` only where that one is slower (by
    ``SPIN_MATTERS``), read back from disk in a new process; a measurement from before this
    was timed, or none at all, keeps the wait."""
    spin = [1.02, 1.0]

    def fake_measure():
        m = {"light": _rows(1 << 20), "heavy": _rows(1 << 14), "gemm": _gemm(1 << 24)}
        return dict(m, spin=list(spin)) if spin else m

    monkeypatch.setattr(calibrate, "measure", fake_measure)
    for spin, matters in (([1.02, 1.0], False), ([1.3, 1.0], True), (None, True)):
        (calib / "calibration.json").unlink(missing_ok=True)
        calibrate._STATE.pop("table", None)
        assert calibrate.spin_matters() is matters, spin
        calibrate._STATE.pop("table")
        monkeypatch.setattr(calibrate, "measure", lambda: pytest.fail("calibrated twice"))
        assert calibrate.spin_matters() is matters, spin  # from disk
        monkeypatch.setattr(calibrate, "measure", fake_measure)
    # a contended first measurement merged with the second: the best of both
    merged = calibrate._merge({"gemm": [], "spin": [2.0, 1.0]}, {"gemm": [], "spin": [1.1, 1.2]})
    assert merged["spin"] == [1.1, 1.0]
    monkeypatch.setenv("JITGRAD_CALIBRATE", "0")
    assert calibrate.spin_matters() is True


def test_never_paying_means_serial_code(calib, monkeypatch):
    never = [(n, 1.0, 1.0) for n in calibrate.SIZES]
    monkeypatch.setattr(
        calibrate, "measure", lambda: {"light": never, "heavy": never, "gemm": _gemm(math.inf)}
    )
    assert calibrate.par_threshold(40) is None
    assert calibrate.blas_plan() == _plan(math.inf)

    def f(x):
        return (jg.tanh(x) * 2.0 + 1.0).sum()

    ts = jg.trace(f)
    x = jg.tensor(np.linspace(-1, 1, 64))
    ts(x)
    ts(x)
    src = ts.source()
    assert "prange(" not in src and "parallel=True" not in src and "_par(" not in src


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("JITGRAD_PAR_THRESHOLD", "0")
    assert calibrate.par_threshold(3) == 0
    monkeypatch.setenv("JITGRAD_PAR_THRESHOLD", "never")
    assert calibrate.par_threshold(3) is None
    monkeypatch.setenv("JITGRAD_PAR_THRESHOLD", "lots")
    with pytest.raises(ValueError, match="JITGRAD_PAR_THRESHOLD='lots'.*work units"):
        calibrate.par_threshold(3)
    monkeypatch.delenv("JITGRAD_PAR_THRESHOLD")
    monkeypatch.setenv("JITGRAD_CALIBRATE", "0")
    assert calibrate.par_threshold(8) == calibrate.DEFAULT // 8
    assert calibrate.par_threshold(8, forced=5) == 5


def _chain(x, w):
    h = jg.tanh(x * w)
    xf = x.reshape(-1)  # a one-dimensional loop whose only use is a full sum: summed in it
    return (h * x).sum() + h.amax() + (xf * jg.sigmoid(xf) * w.sum()).sum()


def test_a_reduction_below_its_threshold_never_enters_the_parallel_kernel(monkeypatch):
    """A reduction calls ``K.sum3_par`` only from its threshold, else ``K.sum3``: entering the
    parallel kernel's prange region at all waited for numba's threads (3-17 ms per call with
    the compile worker on the other core: the MNIST CNN's tier-1 step took 44 instead of 13
    ms). The serial plan (a compile in flight) raises every threshold: no parallel kernel."""
    from jitgrad.compile import worker

    monkeypatch.setenv("JITGRAD_PAR_THRESHOLD", "0")
    rng = np.random.default_rng(3)
    x = jg.tensor(rng.standard_normal((64, 40)).astype(np.float32))
    w = jg.tensor(rng.standard_normal((40, 30)).astype(np.float32), requires_grad=True)

    def step(x, w):
        w.grad = None
        loss = (x @ w).tanh().sum(0).pow(2).sum()
        loss.backward()
        return loss

    ts = jg.trace(step, async_compile=False)
    for _ in range(3):
        ref = ts(x, w).item(), w.grad.numpy().copy()
    exe = ts.last.exe
    assert "K.sum3_par(" in ts.source() and "else K.sum3(" in ts.source()
    exe.fn, exe.thread_plan = exe.fn.py_func, None  # its Python version: kernels looked up per call
    kmod = exe.fn.__globals__["K"]
    calls, real = [], kmod.sum3_par
    monkeypatch.setattr(kmod, "sum3_par", lambda *a: (calls.append(a[0].shape), real(*a))[1])
    monkeypatch.setattr(worker, "_HOLD", {"n": 1, "saved": None})  # a compile in flight
    assert ts(x, w).item() == ref[0] and np.array_equal(w.grad.numpy(), ref[1])
    assert not calls  # the serial plan: sum3 only
    monkeypatch.setattr(worker, "_HOLD", {"n": 0, "saved": None})
    assert ts(x, w).item() == ref[0] and np.array_equal(w.grad.numpy(), ref[1])
    assert calls  # the calibrated plan at threshold 0: the parallel kernel, the same bits


def test_parallel_branch_matches_serial_bit_for_bit(monkeypatch):
    """Every loop takes its prange branch (threshold 0): outputs and gradients are the serial
    code's bits (same per-element code, same reduction tasks), and repeat call to call. The
    last term's loop (4800 elements, used by nothing but its sum) is summed inside the loop,
    in 2 chunks of float64 partials."""
    rng = np.random.default_rng(1)
    xv = rng.uniform(-2, 2, (96, 50)).astype(np.float32)
    wv = rng.uniform(-1, 1, (50,)).astype(np.float32)

    def step(x, w):
        loss = _chain(x, w)
        loss.backward()
        return loss

    def run(**kw):
        x, w = jg.tensor(xv), jg.tensor(wv, requires_grad=True)
        ts = jg.trace(step, **kw)
        res = []
        for _ in range(4):
            w.grad = None
            loss = ts(x, w)
            res.append((loss.detach().numpy().copy(), w.grad.numpy().copy()))
        return ts, res

    monkeypatch.setenv("JITGRAD_PAR_THRESHOLD", "0")
    tp, par = run()
    src = tp.source()
    assert "prange(" in src and ">= par_t:" in src and "K.sum3_par(" in src
    assert "K.combine(K.SUM" in src and "acc += " in src  # the sum fused into its loop
    # the one-dimensional loop calls vmath (sigmoid): 512-bit vectors; the 2-D tanh loop not
    assert src.count("K.wide_vectors()") == 2  # its serial and prange branches
    assert tp.last.exe.name == "cpu" and not tp.last.exe.fallbacks
    _, ser = run(parallel=False)
    # (the first call runs eagerly, the second captures: compiled code from the third)
    for (lp, gp), (ls, gs) in zip(par[2:], ser[2:]):
        assert lp.tobytes() == ls.tobytes() and gp.tobytes() == gs.tobytes()
        assert lp.tobytes() == par[2][0].tobytes() and gp.tobytes() == par[2][1].tobytes()
    x, w = jg.tensor(xv), jg.tensor(wv, requires_grad=True)
    loss = _chain(x, w)
    loss.backward()
    np.testing.assert_allclose(par[-1][0], loss.detach().numpy(), rtol=2e-6)
    np.testing.assert_allclose(par[-1][1], w.grad.numpy(), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize(
    "shape", [(1, 3 * K.CHUNK + 17, 1), (5, 300, 1), (3, 40, 2 * K.COLS + 9), (45, 10, 1)]
)
def test_reduction_kernels_parallel_equal_serial(shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)  # float64 out: a different summation order shows
    xn = x.copy()
    xn[0, 7, 0] = np.nan  # NaN propagates through max/min like NumPy's
    xn[-1, 3, -1] = 1e30
    xp = np.ascontiguousarray(x[:, :20])
    cases = {
        K.SUM: (x, x.sum(1)),
        K.PROD: (xp, xp.prod(1)),
        K.MAX: (xn, xn.max(1)),
        K.MIN: (xn, xn.min(1)),
    }
    A, R, B = shape
    for op, (xi, want) in cases.items():
        s, p = np.empty((A, B)), np.empty((A, B))
        serial, parallel = K.REDUCE3[op]
        serial(xi, s)
        parallel(xi, p, 0)
        assert s.tobytes() == p.tobytes(), op
        np.testing.assert_allclose(p, want, rtol=1e-12, atol=1e-12)
        for _ in range(2):
            parallel(xi, p, 0)
            assert s.tobytes() == p.tobytes()


def test_import_leaves_openmp_environment_alone():
    code = (
        "import os, re\n"
        "pat = re.compile('^(OMP|GOMP|KMP)_')\n"
        "before = {k: v for k, v in os.environ.items() if pat.match(k)}\n"
        "import jitgrad, jitgrad.compile\n"
        "from jitgrad.compile.backends import calibrate, cpu\n"
        "calibrate.start_threads()\n"
        "import numba\n"
        "after = {k: v for k, v in os.environ.items() if pat.match(k)}\n"
        "print(before == after, sorted(after), numba.threading_layer())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_", "KMP_"))}
    env["PYTHONPATH"] = ROOT
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["True", "[]"], out.stdout


def test_numba_runtime_gets_the_passive_policy(monkeypatch):
    from numba.np.ufunc import parallel

    seen = []
    monkeypatch.setattr(parallel, "_launch_threads", lambda: seen.append(dict(os.environ)))
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    had = calibrate._STATE.pop("threads", None)
    try:
        calibrate.start_threads()
        assert seen[0]["OMP_WAIT_POLICY"] == "PASSIVE" and "OMP_WAIT_POLICY" not in os.environ
        # a user's own choice is neither overridden nor removed
        calibrate._STATE.pop("threads")
        monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
        calibrate.start_threads()
        assert seen[1]["OMP_WAIT_POLICY"] == "ACTIVE"
        assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    finally:
        calibrate._STATE.pop("threads", None)
        if had:
            calibrate._STATE["threads"] = had


def test_dot_gives_big_gemms_threads_and_restores_one():
    import ctypes

    if K._BLAS_SET is None:
        pytest.skip("scipy's OpenBLAS not found: dot leaves threads alone")
    lib = ctypes.CDLL(K._BLAS_LIB)
    get = getattr(lib, K._BLAS_SET.replace("set_num_threads", "get_num_threads"))
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((40, 30)), rng.standard_normal((30, 20))
    for mnk_min, aa in ((0, a), (10**9, a), (0, np.asfortranarray(a))):  # both branches, F
        out = np.full((40, 20), np.nan)
        K.dot(aa, b, out, mnk_min, 2)
        np.testing.assert_allclose(out, a @ b, rtol=1e-12)
        assert get() == 1  # numba's threads and BLAS's never both hold the cores
    assert calibrate.blas_plan() == _plan(calibrate.DEFAULT_GEMM)


def _vmath_calls_in_loops(src):
    """Lines calling vmath inside a ``for j`` loop of the generated source."""
    bad, loop_ind = [], None
    for line in src.splitlines():
        ind = len(line) - len(line.lstrip())
        if loop_ind is not None and line.strip() and ind <= loop_ind:
            loop_ind = None
        if line.lstrip().startswith("for j"):
            loop_ind = ind if loop_ind is None else loop_ind
        elif loop_ind is not None and "_vm." in line:
            bad.append(line.strip())
    return bad


def test_loop_invariant_vmath_chain_is_not_in_a_loop():
    """A chain of tanh/sigmoid on one element (LLVM's vectoriser took minutes on such a chain
    inside a loop) is computed outside any loop: no ``_vm.`` call under a ``for j``."""
    x = jg.tensor(np.full(1, 0.5, np.float32), requires_grad=True)
    z = jg.tensor(np.linspace(-1, 1, 64).astype(np.float32))

    def step(x, z):
        x.grad = None
        y = x
        for _ in range(3):
            y = jg.sigmoid(jg.tanh(y * 0.9 + 0.1))
        loss = (y + z * y).sum()
        loss.backward()
        return loss

    ts = jg.trace(step)
    for _ in range(3):
        loss = ts(x, z)
    src = ts.source()
    assert src.count("_vm.") >= 6 and not _vmath_calls_in_loops(src)
    g = x.grad.numpy().copy()
    x.grad = None
    want = step(x, z)
    np.testing.assert_allclose(loss.detach().numpy(), want.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(g, x.grad.numpy(), rtol=1e-5)


def test_busy_machine_calibration_is_not_kept(calib, monkeypatch):
    """Measured while other processes hold the cores (twice), a calibration is not used:
    the defaults are, other processes do not measure again for RECHECK_S, then they do,
    and a quiet measurement replaces the busy one."""
    never = [(n, 1.0, 1.0) for n in calibrate.SIZES]
    calls = []

    def busy():
        calls.append("busy")
        return {"light": never, "heavy": never, "gemm": _gemm(math.inf), "others": 1.5}

    monkeypatch.setattr(calibrate, "measure", busy)
    assert calibrate.par_threshold(3) == math.ceil(calibrate.DEFAULT / 3)
    assert calls == ["busy", "busy"]  # measured once more before giving up
    assert "busy" in calibrate.describe()
    with open(calib / "calibration.json") as f:
        (entry,) = json.load(f).values()
    assert entry["contended"] is True and entry["others"] == 1.5
    calibrate._STATE.pop("table")
    monkeypatch.setattr(calibrate, "measure", lambda: pytest.fail("measured again too soon"))
    assert calibrate.par_threshold(3) == math.ceil(calibrate.DEFAULT / 3)
    # after RECHECK_S a process measures again; quiet, the result is kept
    monkeypatch.setattr(calibrate.time, "time", lambda: entry["time"] + calibrate.RECHECK_S + 1)
    monkeypatch.setattr(
        calibrate,
        "measure",
        lambda: {"light": _rows(1 << 16), "heavy": never, "gemm": _gemm(1 << 24), "others": 0.0},
    )
    calibrate._STATE.pop("table")
    assert calibrate.par_threshold(3) == 1 << 16
    with open(calib / "calibration.json") as f:
        (entry,) = json.load(f).values()
    assert entry["contended"] is False


def test_a_machine_busy_right_now_is_not_timed(calib, monkeypatch):
    # other processes keep the cores busy: timing them (seconds, inside the first capture)
    # would be contended and thrown away, so the defaults are used and recorded at once
    monkeypatch.setattr(calibrate, "_others_now", lambda: 1.2)
    monkeypatch.setattr(calibrate, "measure", lambda: pytest.fail("timed a busy machine"))
    assert calibrate.par_threshold(3) == math.ceil(calibrate.DEFAULT / 3)
    assert "busy" in calibrate.describe()
    with open(calib / "calibration.json") as f:
        (entry,) = json.load(f).values()
    assert entry["contended"] is True and entry["others"] == 1.2
    calibrate._STATE.pop("table")  # another process within RECHECK_S: not even sampled
    monkeypatch.setattr(calibrate, "_others_now", lambda: pytest.fail("sampled again"))
    assert calibrate.par_threshold(3) == math.ceil(calibrate.DEFAULT / 3)


def test_thread_plan_follows_the_step_timings():
    """The run-time plan switches to the plan that measures faster, keeps it while the other
    loses, and tries the other less and less often (synthetic timings, no compile)."""
    tp = calibrate.ThreadPlan()
    cost = [10.0, 1.0]  # the calibrated plan 10x slower (threads waiting for busy cores)
    seen = []
    for _ in range(400):
        p = tp.pick()
        seen.append(p)
        tp.record(p, cost[p])
    assert tp.cur == 1 and tp.switches == 1 and tp.last == {0: 10.0, 1: 1.0}
    # after the switch: trials far apart (at least 40x their extra cost)
    assert seen[50:].count(0) <= 3 * 2  # each later trial ends after its second call
    cost[0] = 0.5  # the machine got quiet: threads pay again
    for _ in range(5000):
        p = tp.pick()
        tp.record(p, cost[p])
    assert tp.cur == 0 and tp.switches == 2
    assert "calibrated" in tp.describe()
    three = calibrate.ThreadPlan(n_plans=3)  # every plan gets tried: the third one wins
    cost = [4.0, 2.0, 1.0]
    for _ in range(300):
        p = three.pick()
        three.record(p, cost[p])
    assert three.cur == 2 and "BLAS threads only" in three.describe()
    fixed = calibrate.ThreadPlan("serial")
    assert all(fixed.pick() == 1 for _ in range(100))


def _simulate(cost, calls, seed, spin=0.0, tp=None, hit=None):
    """Plans chosen by a ThreadPlan over ``calls`` calls on a noisy idle machine (synthetic,
    seconds): each call costs ``cost[plan]`` times log-normal noise, now and then a
    disturbance (the harness's other cases, a daemon) doubles every call for a while (or
    only the calls of the plans in ``hit``: threads waiting for a busy core), and a serial
    call within 0.13 s after a threaded one pays ``1 + spin`` (OpenBLAS's workers still
    spinning on its hyperthread)."""
    rng = np.random.default_rng(seed)
    tp = tp or calibrate.ThreadPlan(settle=(1,))
    seen, burst, clock, last_threaded = [], 0, 0.0, -1.0
    for _ in range(calls):
        p = tp.pick()
        burst = burst - 1 if burst else (int(rng.integers(5, 40)) if rng.random() < 0.03 else 0)
        slow = 2.0 if burst and (hit is None or p in hit) else 1.0
        t = cost[p] * rng.lognormal(0.0, 0.15) * slow
        if p == 1 and clock - last_threaded < 0.13:
            t *= 1.0 + spin
        clock += t
        last_threaded = clock if p == 0 else last_threaded
        tp.record(p, t)
        seen.append(p)
    return tp, seen


def test_thread_plan_finds_the_faster_plan_on_a_noisy_machine():
    """With per-call noise, disturbance bursts and the threaded plan's spinning leftovers,
    the plan ends on serial where serial is 1.36x faster (MLP train b32 on the idle machine:
    1.21 vs 1.65 ms), stays on the calibrated plan where threads pay 1.4x, and does not
    thrash where both cost the same (a few switches; trials cost nothing there)."""
    for seed in range(3):
        tp, seen = _simulate([1.65e-3, 1.21e-3], 3000, seed, spin=0.4)
        assert tp.cur == 1 and seen[1000:].count(1) >= 0.95 * 2000, (seed, tp.describe())
        tp, seen = _simulate([1.0e-3, 1.4e-3], 3000, seed, spin=0.4)
        assert tp.cur == 0 and seen.count(0) >= 0.9 * 3000, (seed, tp.describe())
        tp, seen = _simulate([1.0e-3, 1.0e-3], 3000, seed)
        assert tp.switches <= 8, (seed, tp.describe())


def test_thread_plan_tie_goes_to_serial_loops():
    """Where prange loops gain nothing or lose less than ``GAIN`` (MLP train b32 on the idle
    machine: 196 of 237 calls on the threaded plan, 1.30 ms against 1.01 serial), the lean
    twin (serial loops, the same GEMMs) wins trials on a tie and keeps nearly every call
    (without ``lean``: 9276 and 1605 of these 14000 calls on the threaded plan); where the
    loops gain 1.3x the threaded plan stays, and with threaded GEMMs the twin is the
    threaded-GEMMs-only plan, not the serial one. A quick trial's mild win for the serial
    plan (its settling wait skipped) is confirmed by a settled trial before any switch."""
    for cost in ([1.0e-3, 1.0e-3], [1.08e-3, 1.0e-3]):
        threaded = 0
        for seed in range(5):
            tp, seen = _simulate(cost, 3000, seed, tp=calibrate.ThreadPlan(lean={0: 1}))
            threaded += seen[200:].count(0)
        assert threaded <= 0.06 * 5 * 2800, (cost, threaded)
    for seed in range(3):
        tp, seen = _simulate([1.0e-3, 1.3e-3], 3000, seed, tp=calibrate.ThreadPlan(lean={0: 1}))
        assert tp.cur == 0 and seen.count(0) >= 0.9 * 3000, (seed, tp.describe())
    # threaded GEMMs: the twin is the threaded-GEMMs-only plan (5% faster, no noise here)
    tp, cost, seen = calibrate.ThreadPlan(n_plans=3, settle=(1,), lean={0: 2}), [1.05, 1.3, 1.0], []
    for _ in range(1000):
        p = tp.pick()
        seen.append(p)
        tp.record(p, cost[p] * 1e-3)
    # its trials (blocks of BLOCK_S, 4 trial lengths apart at least) cost under 0.5% of the
    # time of the calls after the switch
    extra = seen[200:].count(0) * (cost[0] - cost[2])
    assert tp.cur == 2 and extra <= 0.005 * 800 * cost[2], (seen[200:].count(0), tp.describe())
    # the quick trial: the threaded plan's calls hit by a neighbour for the first 40 calls
    # (serial looks 0.8x); settled, the serial plan is 1.4x slower: no switch
    tp = calibrate.ThreadPlan(settle=(1,))
    for i in range(300):
        p = tp.pick()
        tp.record(p, 7.0e-3 if p == 1 else 5.0e-3 * (1.75 if i < 40 else 1.0))
    assert tp.cur == 0 and tp.switches == 0 and tp.calls == 300, tp.describe()


def test_thread_plan_counts_calls_that_wait_for_a_busy_core():
    """Trials compare the plans' mean calls, not their medians: a threaded plan whose calls
    now and then wait a scheduler tick for a core another process holds (MLP b32 with one busy
    process: median 0.44 ms, mean 0.85; serial 0.55 / 0.69) loses to serial; without the
    waits it keeps winning."""
    rng = np.random.default_rng(0)
    for stall, want in ((4.4e-3, 1), (0.0, 0)):
        tp, seen, n0 = calibrate.ThreadPlan(), [], 0
        for _ in range(3000):
            p = tp.pick()
            seen.append(p)
            t = 0.55e-3 if p == 1 else 0.44e-3
            if p == 0:
                n0 += 1
                t += stall if n0 % 8 == 0 else 0.0  # one call in 8 waits a tick
            tp.record(p, t * rng.lognormal(0.0, 0.05))
        assert tp.cur == want and seen[500:].count(want) >= 0.9 * 2500, (stall, tp.describe())


def test_thread_plan_waiting_settled_trial_lets_others_run():
    """A serial plan whose settled trial is put off (its quick trial lost) does not hold the
    other plans' trials back: the threaded-GEMMs-only plan getting faster is found within a
    few hundred calls, not when the serial plan's turn comes (~1000 calls here)."""
    tp, cost = calibrate.ThreadPlan(n_plans=3, settle=(1,), lean={0: 2}), [1.0, 1.3, 1.05]
    for i in range(500):
        if i == 200:
            cost[2] = 0.7  # e.g. the loops' threads started losing to a neighbour
        p = tp.pick()
        tp.record(p, cost[p] * 1e-3)
    assert tp.settle_after > 500 and tp.cur == 2, (tp.settle_after, tp.describe())


def test_thread_plan_usage_counts_slow_calls():
    """``usage()`` (the benchmark's "plans:" detail) gives each plan's calls, their median and
    how many took over twice it: which plan a median measured and where slow calls were."""
    tp = calibrate.ThreadPlan("calibrated")
    for t in [1.0e-3] * 90 + [1.9e-3] * 5 + [2.5e-3, 4e-3, 40e-3]:
        tp.record(tp.pick(), t)
    tp.record(1, 3e-3)
    got = re.fullmatch(
        r"calibrated 98 \(median (\S+) ms, 3 over 2x\), serial 1 \(median (\S+) ms, 0 over 2x\)",
        tp.usage(),
    )
    assert got and abs(float(got[1]) - 1.0) < 0.05 and abs(float(got[2]) - 3.0) < 0.15, tp.usage()


def test_vector_width_setting(monkeypatch):
    from jitgrad.compile.backends import cpu

    assert cpu.wide_vectors()  # the default
    monkeypatch.setenv("JITGRAD_VECTOR_WIDTH", "256")
    assert not cpu.wide_vectors()
    monkeypatch.setenv("JITGRAD_VECTOR_WIDTH", "128")
    with pytest.raises(ValueError, match="JITGRAD_VECTOR_WIDTH='128': expected 512 or 256"):
        cpu.wide_vectors()


def test_thread_plan_first_serial_trial_is_quick():
    """A settling plan's first trial skips the SETTLE_S wait: where threads pay (MLP train
    b512: 3.6 vs 5.0 ms per call) the serial plan gets a few trial calls, not the ~90 that
    three waits of 0.15 s cost (they filled 94 of a benchmark's 167 calls); its settled trial
    comes after 10x its estimated cost, and still switches where serial is the faster plan."""
    for cost, faster in (([3.6e-3, 5.0e-3], 0), ([1.65e-3, 1.21e-3], 1)):
        tp = calibrate.ThreadPlan(settle=(1,))
        seen, clock, last_threaded = [], 0.0, -1.0
        for _ in range(1500):
            p = tp.pick()
            t = cost[p] * (1.4 if p == 1 and clock - last_threaded < 0.13 else 1.0)
            clock += t
            last_threaded = clock if p == 0 else last_threaded
            tp.record(p, t)
            seen.append(p)
        assert tp.cur == faster, tp.describe()
        if faster == 0:
            assert seen[:300].count(1) <= 20 and tp.settle_after > 300, tp.settle_after


def test_gemm_through_numpys_blas():
    """``K.gemm`` (NumPy's OpenBLAS) equals ``a @ b`` for C, F and strided operands, float32
    and float64, empty and k = 0 products, on one thread or the pool's, and leaves the pool's
    thread count as it was; (3, 5) @ (5, 70) takes the swapped-roles path for a transposed
    ``b`` (``K.SWAP_M``, ``K.SWAP_N``)."""
    if K.NUMPY_BLAS is None:
        pytest.skip("NumPy's OpenBLAS not found: generated code calls K.dot")
    before = K.numpy_blas_threads()
    rng = np.random.default_rng(4)
    for dt in (np.float32, np.float64):
        for m, k, n in ((5, 7, 3), (1, 4, 6), (6, 1, 1), (0, 3, 2), (3, 0, 2), (3, 5, 70)):
            a0 = rng.standard_normal((m, k)).astype(dt)
            b0 = rng.standard_normal((k, n)).astype(dt)
            want = a0.astype(np.float64) @ b0.astype(np.float64)
            b_rev = np.ascontiguousarray(b0[:, ::-1])[:, ::-1]  # negative strides
            for a in (a0, np.asfortranarray(a0)):
                for b in (b0, np.asfortranarray(b0), b_rev):
                    for mnk_min, threads in ((0, 0), (10**12, 2), (0, 1)):
                        out = np.full((m, n), np.nan, dt)
                        K.gemm(a, b, out, mnk_min, threads)
                        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
                        assert K.numpy_blas_threads() == before


def test_serial_plan_gives_the_same_bits(calib, monkeypatch):
    """A step whose GEMM and loops have thread thresholds gives the same bits under the
    calibrated plan (threads), the serial one and threaded GEMMs with serial loops (loops and
    reductions split the same way; this GEMM is below OpenBLAS's own threading size, bigger
    ones may round differently on 2 threads), and explain() says which plan runs."""
    fast = [(n, 1.0, 0.5) for n in calibrate.SIZES]
    monkeypatch.setattr(
        calibrate, "measure", lambda: {"light": fast, "heavy": fast, "gemm": [(1000, 1.0, 0.5)]}
    )
    rng = np.random.default_rng(5)
    w = jg.tensor(rng.standard_normal((48, 64)).astype(np.float32), requires_grad=True)
    x = jg.tensor(rng.standard_normal((40, 64)).astype(np.float32))

    def step(x):
        w.grad = None
        loss = jg.tanh(x @ w.T).sum()
        loss.backward()
        return loss

    ts = jg.trace(step)
    for _ in range(3):
        ts(x)
    exe = ts._variant().exe
    tp = exe.thread_plan
    assert tp is not None and len(exe.S_plans) == 3  # threaded loops and GEMM: 3 plans
    assert tp.lean == {0: 2} and tp.settle == {1}  # the twin: threaded GEMM, serial loops
    # no spin measured (this fake calibration): the serial plan's trial blocks wait; where
    # the calibration found serial code unslowed by spinning BLAS workers, they do not
    from jitgrad.compile.backends.cpu import CPUExecutable

    monkeypatch.setitem(calibrate._STATE, "spin", False)
    assert CPUExecutable(exe.g, exe.options).thread_plan.settle == set()
    monkeypatch.setitem(calibrate._STATE, "spin", True)
    assert "_S[" in ts.source().split("K.gemm(")[1].split(")")[0]  # threshold from _S
    res = []
    for plan in (0, 1, 2, 0):
        tp.cur, tp.next_trial, tp.todo = plan, None, []
        loss = ts(x)
        res.append((loss.detach().numpy().tobytes(), w.grad.numpy().tobytes()))
    assert res[0] == res[1] == res[2] == res[3]
    assert "thread plan: calibrated" in ts.explain()
    # while a compile holds NumPy's BLAS at one thread (worker.hold_blas), compiled calls run
    # the serial plan and are not timed for the plan's choice
    from jitgrad.compile import worker

    tp.cur, tp.next_trial, tp.todo = 0, None, []
    used = []
    real = exe.fn
    monkeypatch.setattr(exe, "fn", lambda S, *a: used.append(S is exe.S_plans[1]) or real(S, *a))
    monkeypatch.setitem(worker._HOLD, "n", 1)
    calls = tp.calls
    assert ts(x).detach().numpy().tobytes() == res[0][0]
    assert used == [True] and tp.calls == calls
    monkeypatch.setitem(worker._HOLD, "n", 0)
    ts(x)
    assert used == [True, False] and tp.calls == calls + 1
    # a GEMM below its threshold at capture runs on one thread under every plan: its slot is
    # still raised in the serial plan (other sizes), but it makes no plan of its own
    from jitgrad.compile.backends.cpu import CPUGen

    monkeypatch.setitem(calibrate._STATE, "gemm", 40.0 * 64 * 48 + 1)
    gen = CPUGen(exe.g, exe.options)
    gen.generate()
    assert gen.gemm_slots == [] and len(gen.idle_slots) == 2  # x @ w.T and its w gradient
    assert (gen.S_plans[1][gen.idle_slots] == calibrate.NEVER_GEMM).all()
    assert len(gen.S_plans) == 2  # no threaded-GEMMs-only plan
    monkeypatch.setitem(calibrate._STATE, "gemm", 40.0 * 64 * 48)
    gen = CPUGen(exe.g, exe.options)
    gen.generate()
    assert len(gen.gemm_slots) == 2 and gen.idle_slots == []


def test_in_place_update_passes_its_buffer_once():
    """A loop that overwrites an input it reads (the SGD momentum update writes the buffer
    and the weight in place) gets that buffer once, as its output: passed twice, the two
    overlapping pointers kept LLVM on the scalar loop. Values match eager."""
    rng = np.random.default_rng(6)
    w0 = rng.standard_normal((8, 16)).astype(np.float32)
    x = jg.tensor(rng.standard_normal((5, 16)).astype(np.float32))

    def make():
        w = jg.tensor(w0.copy(), requires_grad=True)
        opt = jg.optim.SGD([w], lr=0.1, momentum=0.9)

        def step(x):
            opt.zero_grad()
            loss = jg.tanh(x @ w.T).sum()
            loss.backward()
            opt.step()
            return loss

        return w, step

    (w, step), (we, eager) = make(), make()
    ts = jg.trace(step)
    for _ in range(4):
        ts(x)
        eager(x)
    np.testing.assert_allclose(w.detach().numpy(), we.detach().numpy(), rtol=1e-5, atol=1e-6)
    src = ts.source()
    assert "x_o0 = o0[" in src and "x_o1 = o1[" in src
    for line in src.splitlines():  # no kernel call gets one state buffer twice
        if line.strip().startswith("k_"):
            bufs = [a.split(".")[0] for a in line.split("(", 1)[1].split(", ") if "reshape" in a]
            assert len(bufs) == len(set(bufs)), line
