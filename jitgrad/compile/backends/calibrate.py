"""When a parallel loop pays on this machine: the serial/``prange`` threshold of CPU loops.

A loop's cost is ``elements x work per element`` (``work_per_element``: one unit per member
op and per array read or written, ``TRANSCENDENTAL`` more per transcendental call). The
generated code compares the element count with ``par_threshold(work)`` at run time and runs
its ``prange`` branch only from there; ``None`` means the serial loop always, and then no
parallel code is generated at all.

The threshold is measured once per machine (``calibrate``: a light, bandwidth-bound kernel
and a heavy, compute-bound one, serial against ``prange`` at a few sizes, interleaved, best
of several rounds; parallel must win by ``MARGIN`` at a size and every larger one), at first
need, and kept in ``calibration.json`` in the compile cache directory. Environment:

- ``JITGRAD_PAR_THRESHOLD``: work units from which loops run parallel (``0``: every loop,
  ``never``: none); overrides everything else.
- ``JITGRAD_CALIBRATE=0``: no timing; the deterministic ``DEFAULT`` (the test suite sets it).

numba's OpenMP threads are started here too (``start_threads``), with a passive wait policy
confined to numba's runtime: sleeping, not spinning, while BLAS or another library runs.
"""

import json
import math
import os
import platform
import time

import numba
import numpy as np
from numba import prange

from ..vmath import tanh as _vtanh

TRANSCENDENTAL = 8  # work units of one vmath/libm call next to a multiply-add
MARGIN = 0.8  # parallel time / serial time a size must reach to count as paying
DEFAULT = 1 << 21  # work units, when calibration is off (~700k elements of a light loop)
SIZES = (1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20)
GEMM_ROWS = (16, 64, 256, 1024)  # m of the timed (m, 784) @ (784, 256) float32 GEMMs
DEFAULT_GEMM = 1 << 27  # m*n*k from which a GEMM gets every thread, calibration off
_FILE = "calibration.json"
_STATE = {}  # "table": [(work per element, threshold in work units or inf)], "source": ...

_NB = dict(cache=True, error_model="numpy", fastmath={"reassoc"})


def work_per_element(exprs, streams):
    """Work units per element of a loop whose members render to ``exprs`` and which reads or
    writes ``streams`` arrays."""
    calls = sum(e.count("_vm.") + e.count("math.") for e in exprs)
    return len(exprs) + streams + TRANSCENDENTAL * calls


def start_threads():
    """Start numba's threading layer once, with ``OMP_WAIT_POLICY=PASSIVE`` seen only by it.

    GNU OpenMP reads the variable when the library loads; numba loads it here, so the
    variable is set for that moment and removed again: ``os.environ`` ends as it was, and
    libraries loaded later (torch's own OpenMP runtime) keep their defaults. A value the user
    set is left alone."""
    if _STATE.get("threads"):
        return
    from numba.np.ufunc import parallel

    key = "OMP_WAIT_POLICY"
    had = key in os.environ
    if not had:
        os.environ[key] = "PASSIVE"
    try:
        parallel._launch_threads()
    finally:
        if not had:
            os.environ.pop(key, None)
    _STATE["threads"] = True


# ---- the timed kernels (real functions in a real file, so numba caches them on disk) ----
@numba.njit(**_NB)
def _light_s(o, a):
    for i in range(o.shape[0]):
        o[i] = a[i] * np.float32(1.5) + np.float32(0.25)


@numba.njit(parallel=True, **_NB)
def _light_p(o, a):
    for i in prange(o.shape[0]):
        o[i] = a[i] * np.float32(1.5) + np.float32(0.25)


@numba.njit(**_NB)
def _heavy_s(o, a):
    for i in range(o.shape[0]):
        o[i] = _vtanh(a[i] * np.float32(1.5))


@numba.njit(parallel=True, **_NB)
def _heavy_p(o, a):
    for i in prange(o.shape[0]):
        o[i] = _vtanh(a[i] * np.float32(1.5))


# work per element of the two kernels, counted like a generated loop's
KERNELS = (
    ("light", work_per_element(["x"], 2), _light_s, _light_p),
    ("heavy", work_per_element(["_vm.tanh(x)"], 2), _heavy_s, _heavy_p),
)


def _best(fn, rounds=1, block_s=0.002):
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(block_s / one))
    best = math.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def measure(sizes=SIZES, rounds=5):
    """Serial and parallel seconds of each calibration kernel at each size:
    ``{name: [(n, serial, parallel)]}`` (rounds interleaved, best of ``rounds``)."""
    start_threads()
    rng = np.random.default_rng(0)
    out = {}
    for name, _, fs, fp in KERNELS:
        rows = []
        for n in sizes:
            a = rng.uniform(-3, 3, n).astype(np.float32)
            o = np.empty_like(a)
            ts, tp = math.inf, math.inf
            for _ in range(rounds):  # interleaved: load changes hit both alike
                ts = min(ts, _best(lambda: fs(o, a)))
                tp = min(tp, _best(lambda: fp(o, a)))
            rows.append((n, ts, tp))
        out[name] = rows
    # GEMMs (m, 784) @ (784, 256) through numba's np.dot: one BLAS thread or all of them
    from . import cpu_kernels as K

    nt = numba.config.NUMBA_NUM_THREADS
    b = rng.uniform(-1, 1, (784, 256)).astype(np.float32)
    rows = []
    for m in GEMM_ROWS:
        a = rng.uniform(-1, 1, (m, 784)).astype(np.float32)
        c = np.empty((m, 256), np.float32)
        t1, tn = math.inf, math.inf
        for _ in range(rounds):
            t1 = min(t1, _best(lambda: K.dot(a, b, c, 0, 1)))
            tn = min(tn, _best(lambda: K.dot(a, b, c, 0, nt)))
        rows.append((m * 784 * 256, t1, tn))
    out["gemm"] = rows
    return out


def _pays_from(rows):
    """The smallest size from which the parallel time stays within ``MARGIN`` of serial."""
    thr = math.inf
    for n, ts, tp in reversed(rows):
        if tp <= MARGIN * ts:
            thr = n
        else:
            break
    return thr


def thresholds(measured):
    """``[(work per element, threshold in work units or inf)]`` from ``measure()``: the
    smallest size from which parallel beats serial by ``MARGIN`` at every larger size."""
    return [(w, _pays_from(measured[name]) * w) for name, w, _, _ in KERNELS]


def _machine_tag():
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if "model name" in ln), "")
    except OSError:
        model = ""
    return "|".join(
        [
            platform.node(),
            platform.machine(),
            model,
            str(os.cpu_count()),
            str(numba.config.NUMBA_NUM_THREADS),
            numba.__version__,
            f"margin={MARGIN}",
            ",".join(map(str, SIZES)),
        ]
    )


def _path():
    from .cache import cache_dir

    return os.path.join(cache_dir(), _FILE)


def _load():
    try:
        with open(_path()) as f:
            entry = json.load(f).get(_machine_tag())
        return [(int(w), float(t)) for w, t in entry["table"]], float(entry["gemm"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, None


def _store(table, gemm, measured):
    path = _path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                data = json.load(f)
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        data[_machine_tag()] = {
            "table": [[w, t] for w, t in table],
            "gemm": gemm,
            "measured": measured,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load": os.getloadavg() if hasattr(os, "getloadavg") else None,
        }
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache directory: calibrate again in the next process


def table():
    """``[(work per element, threshold in work units or inf)]`` in force, and where it came
    from (``_STATE["source"]``): environment, default, disk or a fresh calibration."""
    env = os.environ.get("JITGRAD_PAR_THRESHOLD", "").strip().lower()
    if env:
        try:
            t = math.inf if env in ("never", "inf", "off") else float(env)
        except ValueError:
            raise ValueError(
                f"JITGRAD_PAR_THRESHOLD={env!r}: expected a number of work units "
                "(elements x work per element; 0 = every loop parallel) or 'never'"
            ) from None
        _STATE["source"] = f"JITGRAD_PAR_THRESHOLD={env}"
        return [(KERNELS[0][1], t)]
    if os.environ.get("JITGRAD_CALIBRATE", "1") in ("0", ""):
        _STATE["source"] = "default (JITGRAD_CALIBRATE=0)"
        return [(KERNELS[0][1], float(DEFAULT))]
    _calibrated()
    return _STATE["table"]


def _calibrated():
    """Load this machine's calibration from disk, or measure and store it (once)."""
    if "table" in _STATE:
        return
    tab, gemm = _load()
    if tab is not None:
        _STATE["source"] = f"calibrated, from {_path()}"
    else:
        measured = measure()
        tab, gemm = thresholds(measured), _pays_from(measured["gemm"])
        _store(tab, gemm, measured)
        _STATE["source"] = "calibrated now"
    _STATE["table"], _STATE["gemm"] = tab, gemm


def blas_plan():
    """``(m*n*k, threads)``: GEMMs from that size run on ``threads`` BLAS threads (numba's
    count), smaller ones on one; None when every GEMM keeps the process-wide count
    (``JITGRAD_BLAS_THREADS`` set by the user, one core, or threads never paid here)."""
    nt = numba.config.NUMBA_NUM_THREADS
    if os.environ.get("JITGRAD_BLAS_THREADS") or nt < 2:
        return None
    if os.environ.get("JITGRAD_CALIBRATE", "1") in ("0", ""):
        return (DEFAULT_GEMM, nt)
    _calibrated()
    g = _STATE["gemm"]
    return None if math.isinf(g) else (int(g), nt)


def par_threshold(work, forced=None):
    """Elements from which a loop doing ``work`` units per element runs its ``prange``
    branch, or ``None`` when parallel does not pay for it on this machine (``forced``: that
    many elements, as ``trace(parallel=True)`` asks). Starts numba's threads when not None."""
    if forced is None:
        tab = sorted(table())
        # the heaviest calibration kernel no heavier than this loop (or the lightest one)
        w, thr = next((e for e in reversed(tab) if e[0] <= work), tab[0])
        if math.isinf(thr):
            return None
        forced = int(math.ceil(thr / max(work, 1)))
    start_threads()
    return forced


def describe():
    """One line for benchmark headers and notes: the thresholds in force and their source."""
    tab = table()
    parts = [
        f"{w} units/element: " + ("never" if math.isinf(t) else f"from {t:.0f} units")
        for w, t in sorted(tab)
    ]
    plan = blas_plan()
    blas = "1 thread" if plan is None else f"{plan[1]} threads from m*n*k = {plan[0]}"
    return f"parallel loops ({_STATE.get('source')}): " + "; ".join(parts) + f"; BLAS: {blas}"
