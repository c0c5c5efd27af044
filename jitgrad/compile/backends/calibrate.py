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
# cores other processes may keep busy on average during a calibration for it to be cached
CONTENDED = 0.25
RECHECK_S = 600  # a busy machine's calibration is tried again after this many seconds
LOADED_GEMM = 1 << 24  # m*n*k from which GEMMs get threads when the machine was too busy
DEFAULT = 1 << 21  # work units, when calibration is off (~700k elements of a light loop)
SIZES = (1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20)
SPIN_N = 1 << 15  # elements of the serial loop timed right after a threaded GEMM
SPIN_MATTERS = 1.05  # that much slower than rested: serial trial blocks wait (``spin_matters``)
GEMM_ROWS = (4, 8, 16, 32, 64, 256, 1024)  # m of the timed (m, 784) @ (784, 256) float32 GEMMs
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


def _busy():
    """(CPU seconds used by the whole machine, by this process), or None without /proc."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    t = os.times()
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(v) - v[3] - v[4]) / tick, t.user + t.system


def _others_now(seconds=0.2):
    """Cores other processes keep busy right now (sampled over ``seconds``), or None."""
    b0, t0 = _busy(), time.perf_counter()
    time.sleep(seconds)
    b1 = _busy()
    if b0 is None or b1 is None:
        return None
    wall = max(time.perf_counter() - t0, 1e-9)
    return max(0.0, (b1[0] - b0[0]) - (b1[1] - b0[1])) / wall


def measure(sizes=SIZES, rounds=5):
    """Serial and parallel seconds of each calibration kernel at each size:
    ``{name: [(n, serial, parallel)]}`` (rounds interleaved, best of ``rounds``), and
    ``"others"``: how many cores other processes kept busy meanwhile (None: unknown)."""
    b0, t0 = _busy(), time.perf_counter()
    out = _measure(sizes, rounds)
    b1 = _busy()
    if b0 is not None and b1 is not None:
        wall = max(time.perf_counter() - t0, 1e-9)
        out["others"] = max(0.0, (b1[0] - b0[0]) - (b1[1] - b0[1])) / wall
    else:
        out["others"] = None
    return out


def _merge(m1, m2):
    """Best of two measurements, size by size (the second taken because the first looked
    contended): noise only ever makes a kernel slower."""
    out = {}
    for k, rows in m1.items():
        if isinstance(rows, list) and k != "spin":
            out[k] = [
                (n, min(s1, s2), min(p1, p2)) for (n, s1, p1), (_, s2, p2) in zip(rows, m2[k])
            ]
    if "spin" in m1 and "spin" in m2:
        out["spin"] = [min(x1, x2) for x1, x2 in zip(m1["spin"], m2["spin"])]
    vals = [x for x in (m1.get("others"), m2.get("others")) if x is not None]
    out["others"] = min(vals) if vals else None
    return out


def _contended(measured):
    o = measured.get("others")
    return o is not None and o > CONTENDED


def _measure(sizes, rounds):
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
    # GEMMs (m, 784) @ (784, 256) as the generated code calls them: one BLAS thread or all
    nt = blas_threads()
    gemm = _gemm_fn()
    b = rng.uniform(-1, 1, (784, 256)).astype(np.float32)
    # a serial loop's single call before any threaded GEMM (``spin_matters``: and after one)
    x = rng.uniform(-3, 3, SPIN_N).astype(np.float32)
    y = np.empty_like(x)
    rested = min(_once(lambda: _heavy_s(y, x)) for _ in range(rounds + 1))
    rows = []
    for m in GEMM_ROWS if nt > 1 else ():
        a = rng.uniform(-1, 1, (m, 784)).astype(np.float32)
        c = np.empty((m, 256), np.float32)
        t1, tn = math.inf, math.inf
        for _ in range(rounds):
            t1 = min(t1, _best(lambda: gemm(a, b, c, 0, 1)))
            tn = min(tn, _best(lambda: gemm(a, b, c, 0, nt)))
        rows.append((m * 784 * 256, t1, tn))
    out["gemm"] = rows
    if nt > 1:
        a = rng.uniform(-1, 1, (256, 784)).astype(np.float32)
        c = np.empty((256, 256), np.float32)
        after = math.inf
        for _ in range(rounds):
            gemm(a, b, c, 0, nt)  # its workers spin on for a while (~0.13 s, OpenBLAS)
            after = min(after, _once(lambda: _heavy_s(y, x)))
        out["spin"] = [after, rested]
    return out


def _once(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def spin_matters():
    """Whether a serial call right after a threaded GEMM runs slower than one on a rested
    machine (OpenBLAS's idle workers spin ~0.13 s on a core, or the hyperthread, the serial
    code shares): then the run-time plan's serial trial blocks wait ``ThreadPlan.SETTLE_S``
    first. Measured with the calibration; assumed where none is in force."""
    if (
        os.environ.get("JITGRAD_CALIBRATE", "1") in ("0", "")
        or os.environ.get("JITGRAD_PAR_THRESHOLD", "").strip()
    ):
        return True
    _calibrated()
    return _STATE.get("spin", True)


def _spin_of(measured):
    after, rested = (measured or {}).get("spin") or (math.inf, 0.0)
    return after > SPIN_MATTERS * rested


def _gemm_fn():
    from . import cpu_kernels as K

    return K.gemm if K.NUMPY_BLAS is not None else K.dot


def blas_threads():
    """Threads a GEMM that pays for them gets: NumPy's OpenBLAS pool's count (the generated
    code calls that library), or numba's count where it calls scipy's (``np.dot``)."""
    from . import cpu_kernels as K

    if K.NUMPY_BLAS is not None:
        return K.numpy_blas_threads()
    return numba.config.NUMBA_NUM_THREADS


def _pays_from(rows):
    """The smallest size from which the parallel time stays within ``MARGIN`` of serial."""
    thr = math.inf
    for n, ts, tp in reversed(rows):
        if tp <= MARGIN * ts:
            thr = n
        else:
            break
    return thr


def gemm_threshold(rows):
    """m*n*k from which GEMMs get the pool's threads (``_pays_from`` on the timed GEMMs); 1
    where threads paid at the smallest size timed: then every GEMM gets the pool's count and
    OpenBLAS's own small-size rule (the one NumPy's calls get) keeps the tiny ones on one."""
    thr = _pays_from(rows)
    return 1.0 if rows and thr == rows[0][0] else thr


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
            _blas_tag(),
            ",".join(map(str, SIZES)),
            "gemm=" + ",".join(map(str, GEMM_ROWS)),
            f"spin={SPIN_N}",
        ]
    )


def _blas_tag():
    from . import cpu_kernels as K

    return "blas=numpy" if K.NUMPY_BLAS is not None else "blas=scipy"


def _path():
    from .cache import cache_dir

    return os.path.join(cache_dir(), _FILE)


def _load():
    """(table, gemm, entry) of this machine's stored calibration, or (None, None, None)."""
    try:
        with open(_path()) as f:
            entry = json.load(f).get(_machine_tag())
        tab = [(int(w), float(t)) for w, t in entry["table"]]
        return tab, float(entry["gemm"]), entry
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, None, None


def _store(table, gemm, measured, contended=False):
    """Write this machine's entry (a contended one only where no quiet one is stored);
    returns the entry."""
    entry = {
        "table": [[w, t] for w, t in table],
        "gemm": gemm,
        "measured": measured,
        "contended": contended,
        "others": measured.get("others") or 0.0,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "time": time.time(),
        "load": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
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
        old = data.get(_machine_tag())
        if contended and isinstance(old, dict) and not old.get("contended", True):
            return entry  # keep the quiet measurement
        data[_machine_tag()] = entry
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache directory: calibrate again in the next process
    return entry


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


def _under_load_tables():
    return [(KERNELS[0][1], float(DEFAULT))], float(LOADED_GEMM)


def _under_load(entry):
    """The table used while the machine is too busy to calibrate: loops from ``DEFAULT``
    work units, GEMMs from ``LOADED_GEMM`` get threads, and the step's run-time plan
    (``ThreadPlan``) keeps them serial for as long as threads lose."""
    _STATE["source"] = (
        f"machine busy when calibrated ({entry['others']:.1f} cores used by other "
        f"processes, {entry['date']}): defaults, measured again after {RECHECK_S // 60} min"
    )
    return _under_load_tables()


def _calibrated():
    """Load this machine's calibration from disk, or measure and store it (once).

    A measurement taken while other processes kept the cores busy (``CONTENDED``) is
    measured once more (best of both, kernel by kernel); still contended, it is not used:
    the defaults are (``_under_load``), the file records when (so other processes do not
    measure again within ``RECHECK_S``), and a quiet measurement stored earlier is kept."""
    if "table" in _STATE:
        return
    tab, gemm, entry = _load()
    _STATE["spin"] = True  # unless a quiet calibration measured otherwise
    if tab is not None and not entry.get("contended"):
        _STATE["source"] = f"calibrated, from {_path()}"
        _STATE["spin"] = _spin_of(entry.get("measured"))
    elif tab is not None and time.time() - entry.get("time", 0) < RECHECK_S:
        tab, gemm = _under_load(entry)
    elif (busy := _others_now()) is not None and busy > CONTENDED:
        # busy right now: a measurement (seconds, inside the first capture) would be
        # contended and discarded; the defaults, recorded so that others skip it too
        tab, gemm = _under_load(_store(*_under_load_tables(), {"others": busy}, True))
    else:
        measured = measure()
        if _contended(measured):  # measure again; each kernel keeps its best time
            measured = _merge(measured, measure())
        tab, gemm = thresholds(measured), gemm_threshold(measured["gemm"])
        if _contended(measured):
            entry = _store(tab, gemm, measured, contended=True)
            tab, gemm = _under_load(entry)
        else:
            _store(tab, gemm, measured)
            _STATE["source"] = "calibrated now"
            _STATE["spin"] = _spin_of(measured)
    _STATE["table"], _STATE["gemm"] = tab, gemm


NEVER_GEMM = 1 << 62  # an m*n*k no GEMM reaches: every GEMM on one thread


def blas_plan(serial=False):
    """``(m*n*k, threads)``: GEMMs from that size run on ``threads`` BLAS threads, smaller
    ones on one (``K.gemm``/``K.dot`` arguments); ``serial`` (``trace(parallel=False)``):
    every GEMM on one thread unless ``JITGRAD_BLAS_THREADS`` says otherwise.

    With NumPy's OpenBLAS (``K.gemm``): ``JITGRAD_BLAS_THREADS=n`` gives every GEMM n
    threads; else the calibrated size, GEMMs above it on the pool's own count (``threads``
    0, i.e. NumPy's), every GEMM as NumPy's calls run them where the timed GEMMs did not
    gain (OpenBLAS's own rule; the run-time plan decides). With scipy's (``K.dot``, NumPy's library
    not found): None when every GEMM keeps the process-wide count (``JITGRAD_BLAS_THREADS``
    set, one core)."""
    from . import cpu_kernels as K

    numpy_blas = K.NUMPY_BLAS is not None
    env = os.environ.get("JITGRAD_BLAS_THREADS", "").strip()
    if env:
        if not numpy_blas:
            return None
        try:
            n = int(env)
            if n < 1:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"JITGRAD_BLAS_THREADS={env!r}: expected a positive number of BLAS threads"
            ) from None
        return (0, n)
    nt = blas_threads()
    if nt < 2 or serial:
        return (NEVER_GEMM, 1) if numpy_blas else None
    if os.environ.get("JITGRAD_CALIBRATE", "1") in ("0", ""):
        g = float(DEFAULT_GEMM)
    else:
        _calibrated()
        g = _STATE["gemm"]
    if math.isinf(g):
        # threads did not pay for the timed GEMMs (by MARGIN: a snapshot of short blocks, the
        # workers waking each time; on the idle 2-core machine 2 threads missed it by 0.2%).
        # NumPy's own calls thread them anyway, so a step whose GEMMs all ran on one thread
        # was slower than the NumPy step (MLP b512: 7.55 vs 5.96 ms). Then every GEMM keeps
        # a thread slot: the calibrated plan runs them as NumPy does (the pool's count,
        # OpenBLAS's own small-size rule), and the step's run-time plan (``ThreadPlan``:
        # serial, 1-thread GEMMs) keeps them on one thread for as long as that is faster.
        g = 1.0
    return (int(g), 0 if numpy_blas else nt)


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
    return f"parallel loops ({_STATE.get('source')}): " + "; ".join(parts) + "; " + describe_blas()


def describe_blas():
    """Which BLAS the generated code calls and on how many threads."""
    from . import cpu_kernels as K

    plan = blas_plan()
    if K.NUMPY_BLAS is None:
        lib = "scipy's OpenBLAS (NumPy's not found)"
        n = "1 thread" if plan is None else f"{plan[1]} threads from m*n*k = {plan[0]}, 1 below"
    else:
        lib = "NumPy's OpenBLAS"
        if plan[0] >= NEVER_GEMM:
            n = "1 thread (a pool of one)"
        elif plan[0] == 0:
            n = f"{plan[1]} thread(s) (JITGRAD_BLAS_THREADS)"
        elif plan[0] == 1:
            n = f"its pool's {blas_threads()} threads (OpenBLAS's own rule for small GEMMs)"
        else:
            n = f"its pool's {blas_threads()} threads from m*n*k = {plan[0]}, 1 below"
    if math.isinf(_STATE.get("gemm", 0.0)) and plan is not None and plan[0] < NEVER_GEMM:
        n += " (the timed GEMMs did not gain from threads: the run-time plan decides)"
    return f"BLAS: {lib}, {n}"


def plan_mode():
    """``JITGRAD_THREAD_PLAN``: ``adaptive`` (default: the step's own timings choose between
    the calibrated plan and the serial one, re-checked now and then), ``calibrated`` or
    ``serial`` (always that plan)."""
    mode = os.environ.get("JITGRAD_THREAD_PLAN", "adaptive").strip().lower() or "adaptive"
    if mode not in ("adaptive", "calibrated", "serial"):
        raise ValueError(
            f"JITGRAD_THREAD_PLAN={mode!r}: expected 'adaptive', 'calibrated' or 'serial'"
        )
    return mode


PLAN_NAMES = ("calibrated", "serial", "BLAS threads only")


class ThreadPlan:
    """Chooses, call by call, the plan a compiled step runs with: 0 = the calibrated one
    (prange loops and BLAS threads where the calibration said they pay), 1 = serial (every
    loop serial, every GEMM on one BLAS thread), 2 (where the step has both kinds) = threaded
    GEMMs with serial loops (OpenBLAS's idle workers spin ~0.1 s after a threaded GEMM, on
    the cores numba's prange threads want). Loops and reductions give the same bits under
    every plan (elementwise loops; reductions split their work the same way serial or
    parallel); a GEMM on 2 OpenBLAS threads may round differently from 1 thread (measured:
    512x784x256 differs in the last bits, 256x512x784 does not), so with big GEMMs a switch
    can change results within float rounding: ``JITGRAD_THREAD_PLAN=calibrated`` or
    ``serial`` gives run-to-run reproducible results.

    A calibration is a snapshot: taken on a quiet machine, threads pay; when other processes
    later hold the cores, threads wait for them and the same step runs several times slower
    than serial (measured 5-10x on 2 busy cores). So the step times itself. A trial runs
    ``ROUNDS`` pairs of blocks, one other plan (in turn) then the current one, each block
    keeping at least ``BLOCK`` - 1 call times and calls until they add up to ``BLOCK_S`` (at
    most ``BLOCK_MAX``), and compares the pairs: the other plan wins when the median over the
    pairs of (its block's mean call / the next block's mean call) is at most ``GAIN`` (means:
    the calls of a threaded plan that wait a scheduler tick for a busy core count). A block
    drops its first call, and a block of a ``settle`` plan (the serial plan
    of a step with threaded GEMMs) its calls within ``SETTLE_S``: they pay for the previous
    plan's leftovers, OpenBLAS workers spinning ~0.13 s after a threaded GEMM on the core
    (or the hyperthread) the serial code runs on. Pairs of neighbouring blocks see the same
    machine (the benchmark harness's other cases, other processes), which a comparison with
    calls from before the trial does not: with 3 calls right after the threaded plan against
    its last 5, the default kept a plan 1.36x slower than serial on the idle machine (MLP
    train step, batch 32). Two pairs that agree by far (``EARLY``) end the trial before the
    third; the other plan's first block taking more than ``HOPELESS`` times the current plan's
    recent median (its median: not one preempted call) ends it at once. The next trial comes at
    least 40x the trial's extra cost later (``FIRST`` calls where the plans cost about the
    same); after a clear loss (ratio above 1 / ``GAIN``) the interval doubles, up to ``LAST``
    calls (or the cost bound, if further); an undecided trial (between) keeps it.

    ``lean`` maps a plan to its leaner twin: the same GEMM threads, serial loops (the
    calibrated plan's twin is the serial plan where no GEMM has a live thread slot, the
    threaded-GEMMs-only plan where one has). Between twins a tie goes to the lean one: it
    wins at a ratio up to ``TIE`` (prange loops that gain nothing cost wake-ups and lose
    calls to neighbours' spinning threads: MLP train b32 ran 1.30 ms against 1.01 serial on
    the idle machine with 196 of 237 calls on the threaded plan), and a richer twin's trial
    that does not win by ``GAIN`` counts as a clear loss (trials less and less often). A
    quick trial's win for a settling plan (no wait: the current plan's calls may have paid
    for neighbours' leftovers just as well) and a richer twin's win switch only when they
    are clear (``EARLY``); otherwise a second (settled) trial of the same plan confirms them
    at once."""

    BLOCK = 4
    BLOCK_S = 0.005  # and a block keeps calls until they add up to this (or BLOCK_MAX calls)
    BLOCK_MAX = 64
    ROUNDS = 3
    WINDOW = 5
    FIRST = 32
    LAST = 2048
    GAIN = 0.9
    HOPELESS = 3.0
    SETTLE_S = 0.15  # OpenBLAS's idle workers spin ~0.13 s after a threaded call (measured)
    EARLY = 0.6  # two pairs this far apart, the same way, end a trial before its third
    SETTLE_DELAY = 10  # a settled trial after a quick loss: at most ~10% of the calls
    TIE = 1.0  # the lean twin (serial loops) wins up to this ratio
    BUCKETS = 200  # of the call-time histograms: 1 us .. 30 s

    def __init__(self, mode="adaptive", n_plans=2, settle=(), lean=None):
        self.mode = mode
        self.n = n_plans
        self.settle = set(settle)  # plans whose trial blocks first wait SETTLE_S
        self.lean = dict(lean or {})  # {plan: its twin with serial loops, the same GEMMs}
        self.confirm = None  # a plan whose mild win a second trial confirms next
        self.confirming = False  # the trial under way is such a second trial
        # a settling plan's first trial skips the wait (it can only make that plan look
        # slower); a loss there puts its settled trial off by SETTLE_DELAY times that trial's
        # estimated cost
        self.unsettled = set(settle)
        self.quick = False  # the trial under way skips SETTLE_S
        self.settle_after = 0  # calls before a settling plan's next (settled) trial
        self.cur = 1 if mode == "serial" else 0
        self.calls = 0  # timed calls
        self.next_trial = self.WINDOW if mode == "adaptive" else None
        self.interval = self.FIRST
        self.todo = []  # plans of the trial's blocks still to run, the current one first
        self.kept = []  # per block of the trial so far: its call times after settling
        self.block = [0, 0.0, False]  # calls, seconds, settling? of the block under way
        self.prev = self.cur  # the plan of the last call
        self.spent = {}  # {plan: [seconds, calls]} in this trial
        self.window = []  # the current plan's latest call times
        self.skip = False  # the next call on the current plan follows a switch: not recorded
        self.other = self.first = self.cur  # the trial's other plan; the plan it starts with
        self.untried = set(range(n_plans)) - {self.cur}  # since the last switch
        self.switches = 0
        self.last = None  # {plan: median seconds} of the last trial
        self.used = [0] * n_plans  # timed calls per plan
        # per plan: call times in eighth-octave buckets from 1 us (``usage``: slow calls)
        self.hist = [[0] * self.BUCKETS for _ in range(n_plans)]

    def pick(self):
        """The plan of the next call."""
        if self.todo:
            return self.todo[0]
        due = self.next_trial is not None and self.calls >= self.next_trial
        if due and len(self.window) >= 3:
            turn = [(self.other + k) % self.n for k in range(1, self.n + 1)]
            # an untried plan first, then the others in turn
            turn = sorted(self.untried) + [
                p for p in turn if p != self.cur and p not in self.untried
            ]
            self.confirming = self.confirm is not None
            if self.confirming:  # a mild win's second trial: now
                other, self.confirm = self.confirm, None
            else:
                # a settling plan whose settled trial is not due yet gives its turn to the
                # next plan (it used to hold every other plan's trials back too)
                waits = [
                    p in self.settle and p not in self.unsettled and self.calls < self.settle_after
                    for p in turn
                ]
                if all(waits):
                    self.next_trial = self.settle_after
                    return self.cur
                other = turn[waits.index(False)]
            self.quick = other in self.unsettled
            self.unsettled.discard(other)
            self.other = other
            # a settling plan's block first: its kept calls, at the block's end, are then
            # next to the other plan's block of the same pair
            first = self.first = self.cur if self.cur in self.settle else other
            self.todo = [first, other if first == self.cur else self.cur] * self.ROUNDS
            self.kept, self.block = [[]], [0, 0.0, self._settles(first)]
            self.spent = {other: [0.0, 0], self.cur: [0.0, 0]}
            return first
        return self.cur

    def _settles(self, plan):
        """Whether a block of ``plan`` starting now waits SETTLE_S (after another plan)."""
        return plan in self.settle and self.prev != plan and not self.quick

    def record(self, plan, seconds):
        """The time of a call that ran ``plan`` (calls that compiled are not recorded)."""
        self.calls += 1
        self.used[plan] += 1
        us = seconds * 1e6
        self.hist[plan][min(self.BUCKETS - 1, int(8 * math.log2(us))) if us > 1 else 0] += 1
        self.prev = plan
        if not self.todo:
            if plan == self.cur and not self.skip:
                self.window = (self.window + [seconds])[-self.WINDOW :]
            self.skip = False
            return
        if plan != self.todo[0]:
            return
        sp = self.spent[plan]
        sp[0], sp[1] = sp[0] + seconds, sp[1] + 1
        n, t, settles = self.block
        # a block's first call, and a settling block's calls within SETTLE_S, pay for the
        # previous plan's leftovers: not kept
        if n > 0 and t >= (self.SETTLE_S if settles else 0.0):
            self.kept[-1].append(seconds)
        self.block = [n + 1, t + seconds, settles]
        kept = self.kept[-1]
        if len(kept) < self.BLOCK - 1 or (sum(kept) < self.BLOCK_S and len(kept) < self.BLOCK_MAX):
            return
        recent = max(_median(self.window), 1e-12)
        slow = _median(self.kept[-1])
        if plan != self.cur and len(self.kept) <= 2 and slow > self.HOPELESS * recent:
            # the other plan's first block far slower than the current plan (its median: one
            # call preempted for a scheduler tick, 4 ms, is not): no need for more calls
            self.todo = []
            self._decide(slow / recent, slow, recent)
            return
        self.todo.pop(0)
        if len(self.kept) % 2 == 0:  # a pair complete: kept[0::2] hold the first plan's
            theirs, mine = self.kept[0::2], self.kept[1::2]
            if self.first != self.other:
                theirs, mine = mine, theirs
            # blocks compared by their mean call: a plan whose threads now and then wait for
            # a busy core (a scheduler tick, 4 ms, on a 0.5 ms call) costs its mean, which
            # the median hid (MLP b32 with one busy process: threaded plan median 0.44 ms,
            # mean 0.85; serial 0.55 / 0.69, and the median kept the threaded one)
            pairs = [_mean(o) / max(_mean(c), 1e-12) for o, c in zip(theirs, mine)]
            clear = len(pairs) >= 2 and (
                all(r <= self.EARLY for r in pairs) or all(r * self.EARLY >= 1 for r in pairs)
            )
            if not self.todo or clear:  # the last pair, or two that agree by far: decided
                self.todo = []
                flat = [[t for b in bs for t in b] for bs in (theirs, mine)]
                self._decide(_median(pairs), _median(flat[0]), _median(flat[1]))
                return
        self.kept.append([])
        self.block = [0, 0.0, self._settles(self.todo[0])]

    def _decide(self, ratio, other_t, cur_t):
        """End of a trial: the other plan took ``ratio`` times the current one's time."""
        other = self.other
        self.last = {self.cur: cur_t, other: other_t}
        self.untried.discard(other)
        tie = self.lean.get(self.cur) == other  # the other plan is the lean twin
        win = ratio <= (self.TIE if tie else self.GAIN)
        richer = self.lean.get(other) == self.cur  # the other plan adds prange loops only
        if win and (self.quick or richer) and ratio > self.EARLY and not self.confirming:
            # a mild win without the settling wait, or for loops that add threads only: a
            # second (settled) trial right away confirms it (one noisy trial does not switch)
            self.confirm = other
            self.next_trial = self.calls
            return
        # the next trial comes at least 40x its extra cost later: the loser's calls against
        # the winner's time per call
        loser, t_win = (self.cur, other_t) if win else (other, cur_t)
        secs, calls = self.spent.get(loser, (0.0, 0))
        extra = max(0.0, secs - calls * t_win) / max(t_win, 1e-12)
        base = max(self.FIRST, int(40 * extra))  # beyond LAST too: the cost bound first
        if not win and self.quick and other_t > cur_t:
            # no settling wait this time: the settled trial would run ROUNDS waits of
            # SETTLE_S on the other plan, each call of them (other_t - cur_t) slower
            wait = self.ROUNDS * self.SETTLE_S * (other_t - cur_t) / other_t / cur_t
            self.settle_after = self.calls + int(self.SETTLE_DELAY * wait)
        if win:
            self.window = [other_t]
            old, self.cur = self.cur, other
            self.switches += 1
            self.skip = True  # the trial ended on the old plan: its leftovers
            self.untried = set(range(self.n)) - {other, old}
            # a plan not tried yet comes next, soon; else the old plan, as far as it lost
            self.interval = self.FIRST if self.untried else base
        elif self.untried and not richer:
            self.interval = self.FIRST  # the remaining plan next
        elif ratio * self.GAIN >= 1 or richer:
            # a clear loss (or the richer twin did not gain): the current plan is right, look
            # less often
            self.interval = max(base, min(self.LAST, 2 * self.interval))
        else:  # undecided: look again as soon as before
            self.interval = max(self.interval, base)
        # and at least 4 trial lengths later (a trial of short calls runs BLOCK_S blocks)
        trial_calls = sum(c for _, c in self.spent.values())
        self.next_trial = self.calls + max(self.interval, 4 * trial_calls)

    def describe(self):
        """One line for ``explain()``."""
        name = PLAN_NAMES[self.cur]
        if self.mode != "adaptive":
            return f"thread plan: {name} (JITGRAD_THREAD_PLAN={self.mode})"
        s = f"thread plan: {name}, chosen at run time from the step's own timings"
        if self.last is not None:
            trial = ", ".join(
                f"{PLAN_NAMES[k]} {v * 1e3:.3f} ms" for k, v in sorted(self.last.items())
            )
            s += f" (last trial: {trial}; {self.switches} switch(es) in {self.calls} calls)"
        if self.settle:
            s += (
                f"; {', '.join(PLAN_NAMES[p] for p in sorted(self.settle))} trial blocks wait "
                f"{self.SETTLE_S} s for BLAS workers spinning after threaded GEMMs"
            )
        return s

    def usage(self):
        """Timed calls per plan so far and how many took over twice that plan's median, e.g.
        ``calibrated 900 (median 1.21 ms, 31 over 2x), serial 24 (...)`` (benchmark detail
        lines: which plan a median measured, and whether slow calls came from one plan)."""
        parts = []
        for k, n in enumerate(self.used):
            if not n:
                continue
            h, acc, mid = self.hist[k], 0, 0
            while 2 * (acc := acc + h[mid]) < n:  # the median's bucket
                mid += 1
            slow = sum(h[mid + 9 :])  # 9 eighth-octaves up: over 2x (2x to 2.18x) the median
            med = 2 ** ((mid + 0.5) / 8) / 1e3  # the bucket's centre, within 5%
            parts.append(f"{PLAN_NAMES[k]} {n} (median {med:.3g} ms, {slow} over 2x)")
        return ", ".join(parts)


def _mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0.0
