"""(e) Compile latency in the default async mode, each measurement in a fresh process.

jitgrad runs in three ways: ``worker`` (the default async compile: the compile worker
process, ``jitgrad/compile/worker.py``), ``fresh`` (the same on a fresh install) and
``foreground`` (``JITGRAD_ASYNC_COMPILE=0``). Per process:

- cold: a fresh, empty cache directory (jitgrad's JITGRAD_CACHE_DIR, jax's persistent
  compilation cache, TorchInductor's cache dir); time from the first call of the step until
  the first call that ran compiled code has returned. For jitgrad that includes the eager
  call before recording, the recording call and every eager call while the compile runs;
- eager step time while the compile runs (median and mean of those calls) against the eager
  step with no compile going on (same process, before and after), with NumPy's default BLAS
  threads and with NumPy's BLAS on one thread (what it runs on while a compile is in flight);
- warm: a new process reusing the directory; time from the end of the recording call to
  the end of the first compiled call (loading from disk), and from the first call;
- a second batch size after the first one is compiled: time from its first call to its first
  compiled call, and whether numba compiled anything for it (peers: the first call of the
  same step at the new batch size, in the same process);
- steady: the median compiled call afterwards.

Imports, and the CPU backend's one-time calibration (per machine and cache directory, not per
graph), are timed apart. Run as ``python -m benchmarks.workloads.compile_latency --fw NAME
--cache DIR --workload W`` (the child) or through ``rows()`` (the parent).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from ..timing import Block, Result
from .common import Row

# "jitgrad fresh": the worker mode on a fresh install, numba's cache of jitgrad's own kernels
# (``K.gemm``, the conv kernels: beside the package) empty too (``NUMBA_CACHE_DIR``), once
# (a "jitgrad thread" mode, the in-process compile thread of round 3, is gone: the CPU backend
# compiles in the worker whatever the harness patches, so it measured the worker mode again)
JITGRAD = ("jitgrad worker", "jitgrad foreground", "jitgrad fresh")
# the worker mode's cold processes, full level: the eager-while-compiling rows compare two
# windows of one process whose eager step varies +-30% process to process, so more of them
WORKER_REPS = 5
FRAMEWORKS = JITGRAD + ("torch.compile", "jax.jit")
WORKLOADS = {
    "mlp": "MNIST MLP train step, batch 32",
    "arith": "arithmetic chain, 1e3 elements",
    "cnn": "small CNN train step (Adam), batch 64",
}
BATCH = {"mlp": 32, "cnn": 64}
SECOND_BATCH = {"mlp": 48, "cnn": 48}
# the workloads of each level, and the jitgrad modes measured for the CNN (the foreground
# mode is the old path: the MLP rows show it)
LEVEL_WORKLOADS = {"smoke": ("arith",), "quick": ("mlp",), "full": ("mlp", "cnn")}
CNN_MODES = ("jitgrad worker", "jitgrad fresh")


# ---------------------------------------------------------------- the child ------------
def _jitgrad_child(mode, workload, cache, level="full"):
    os.environ["JITGRAD_CACHE_DIR"] = cache
    os.environ["JITGRAD_ASYNC_COMPILE"] = "0" if mode == "jitgrad foreground" else "1"
    fresh = mode == "jitgrad fresh"
    if fresh:  # numba's cache of jitgrad's own kernels: empty (the workers inherit it)
        os.environ["NUMBA_CACHE_DIR"] = os.path.join(cache, "numba-fresh-install")
        mode = "jitgrad worker"
    t0 = time.perf_counter()
    import jitgrad  # noqa: F401

    if mode == "jitgrad worker":
        from jitgrad.compile import worker

        worker.patch_cpu_backend()  # a no-op once the backend calls the worker itself
    t_import = time.perf_counter() - t0
    # once per machine and cache directory, not per graph: the CPU backend's calibration of
    # its thread thresholds (kept in the cache directory); timed apart from the cold compile
    from jitgrad.compile.backends import calibrate

    t0 = time.perf_counter()
    calibrate.table()
    calibrate.blas_plan()
    t_calibrate = time.perf_counter() - t0
    from jitgrad.compile import worker as _w

    base_ts, base_1t, base = [], [], None
    # the eager step's time drifts by +-30% over ~0.1 s on these shared machines (medians of
    # 50-call blocks of one process: 2.5-3.6 ms): the base is measured before the compile and
    # again after it (no compile running then either), over about as long as the window
    n_base = 150 if level == "full" else 8

    def measure_base():
        base_ts.extend(_times(base, n_base))
        # the same eager step with NumPy's BLAS on one thread (as it runs while a compile is
        # in flight, worker.hold_blas): the eager-while-compiling rows compare with both
        held = _w.hold_blas()
        if held:
            base_1t.extend(_times(base, n_base))
            _w.release_blas()

    if not fresh:  # (on a fresh install these eager calls would start the kernels' compile)
        base = _make("jitgrad eager", workload)
        for _ in range(3):
            base()
        measure_base()
    if mode == "jitgrad worker" and os.environ.get("JITGRAD_BENCH_PREWARM") == "1":
        worker.prewarm()  # what jitgrad.trace() would do once wired (notes/issue-13.md)
    if os.environ.get("JITGRAD_BENCH_INLINE_WARM") == "1":
        _inline_warm_load()
    fn = _make("jitgrad compiled", workload)
    t_first = time.perf_counter()
    info = _until_compiled(fn.traced, lambda: fn(), timeout=900)
    tiers = _until_tier2(fn, t_first, timeout=900) if mode == "jitgrad worker" else {}
    if base is not None:
        fn.traced.last.wait()  # (the compile thread: done at tier 2)
        measure_base()
    steady = statistics.median(_times(fn, 15))
    out = dict(import_s=t_import, steady_s=steady, **info)
    if base_ts:
        out["eager_base_s"] = statistics.median(base_ts)
        out["eager_base_mean_s"] = statistics.mean(base_ts)
    out.update(tiers)
    t1 = getattr(fn.traced.last.exe, "tier1_exe", None)
    if t1 is not None:  # the same step at tier 1, after the compile (no worker running)
        v = fn.traced.last
        v.exe, exe = t1, v.exe
        out["steady_tier1_s"] = statistics.median(_times(fn, 15))
        v.exe = exe
    out["calibrate_s"] = t_calibrate
    if base_1t:
        out["eager_base_1t_s"] = statistics.median(base_1t)
        out["eager_base_1t_mean_s"] = statistics.mean(base_1t)
    if workload in SECOND_BATCH and level != "smoke" and not fresh:  # compiled code reused
        from .common import mnist_batch

        data = mnist_batch(SECOND_BATCH[workload], flat=workload == "mlp")
        x2, y2 = (jitgrad.tensor(a) for a in data)
        second = _until_compiled(fn.traced, lambda: fn.traced(x2, y2), timeout=900)
        out["second_batch"] = {k: second[k] for k in ("first_s", "numba_compiled", "worker")}
    return out


def _inline_warm_load():
    """Emulates recommendation 5 of notes/issue-13.md (a trace.py change, benchmark only):
    code already on disk is loaded by the recording call itself, not by the thread."""
    import importlib

    import numba
    import numpy as np

    from jitgrad.compile.backends import cache as _cache

    _trace = importlib.import_module("jitgrad.compile.trace")  # the package exports trace()
    orig = _trace.Variant.compile_async

    def compile_async(self, args):
        exe = self.exe
        if getattr(exe, "fn", None) is not None and hasattr(exe, "_args"):
            arrays = self.gather(args)
            sig = tuple(numba.typeof(np.ascontiguousarray(a)) for a in exe._args(arrays))
            if _cache.has_compiled(exe.fn, sig):
                return exe.precompile(arrays)
        return orig(self, args)

    _trace.Variant.compile_async = compile_async


def _until_tier2(fn, t_first, timeout):
    """Keep calling (tier 1) until the whole-step code (tier 2) ran; its timings."""
    v = fn.traced.last
    t0 = time.perf_counter()
    n = 0
    while getattr(v.exe, "tier", 2) != 2 and time.perf_counter() - t0 < timeout:
        if "tier2" in (getattr(v.exe, "tier_info", None) or {}):
            break  # stays at tier 1
        fn()
        n += 1
        time.sleep(0.001)
    fn()
    ti = dict(getattr(v.exe, "tier_info", None) or {})
    ti.pop("tier1_worker", None)
    return {"tier2_s": time.perf_counter() - t_first, "tier1_calls": n, "tier_info": ti}


def _times(fn, n):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return ts


def _until_compiled(traced, call, timeout):
    """Call until a call ran compiled code; times of the calls between capture and then."""
    st = traced.stats
    c0, cap0 = st["compiled_calls"], st["captures"]
    t_start = time.perf_counter()
    t_capture, during, calls, capture_call = None, [], 0, None
    while st["compiled_calls"] == c0 and time.perf_counter() - t_start < timeout:
        t = time.perf_counter()
        call()
        dt = time.perf_counter() - t
        calls += 1
        if t_capture is None and st["captures"] > cap0:
            t_capture = time.perf_counter()
            capture_call = dt
        elif t_capture is not None and st["compiled_calls"] == c0:
            during.append(dt)
    t_end = time.perf_counter()
    v = traced.last
    exe = v.exe
    winfo = getattr(exe, "worker_info", None) or {}
    stats = getattr(getattr(exe, "fn", None), "stats", None)  # tier 1: a Python function
    misses = sum(stats.cache_misses.values()) if stats is not None else None
    tinfo = getattr(exe, "tier_info", None) or {}
    return dict(
        first_s=t_end - t_start,
        after_capture_s=None if t_capture is None else t_end - t_capture,
        capture_call_s=capture_call,
        calls=calls,
        eager_during_n=len(during),
        eager_during_median=statistics.median(during) if during else None,
        eager_during_mean=statistics.mean(during) if during else None,
        eager_during_max=max(during) if during else None,
        build_s=v.build_seconds,
        numba_compile_s=getattr(exe, "compile_seconds", None),
        cache_hit=getattr(exe, "cache_hit", None),
        numba_compiled=bool(misses)
        or bool(winfo.get("worker"))
        or bool(tinfo.get("tier1_compiled")),
        tier=getattr(exe, "tier", None),
        worker=winfo.get("worker"),
        worker_reason=winfo.get("reason"),
        worker_jobs=winfo.get("jobs"),
    )


def _peer_child(fw, workload, cache):
    t0 = time.perf_counter()
    if fw == "torch.compile":
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        from .. import peers

        peers.torch()
    else:
        from .. import peers

        jax = peers.jax()
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    t_import = time.perf_counter() - t0
    fn = _make(fw, workload)
    t1 = time.perf_counter()
    fn()
    first = time.perf_counter() - t1
    for _ in range(3):
        fn()
    steady = statistics.median(_times(fn, 15))
    out = dict(import_s=t_import, first_s=first, after_capture_s=first, steady_s=steady)
    if workload in SECOND_BATCH:
        # the same step at another batch size in the same process: jax.jit traces and compiles
        # again for the new shape; torch.compile(dynamic=False) recompiles (same code object,
        # failed shape guards); neither finds it in its disk cache (another shape)
        fn2 = _make(fw, workload, SECOND_BATCH[workload])
        t1 = time.perf_counter()
        fn2()
        out["second_batch"] = {"first_s": time.perf_counter() - t1}
    return out


def _child(fw, workload, cache, level="full"):
    if fw in JITGRAD:
        return _jitgrad_child(fw, workload, cache, level)
    return _peer_child(fw, workload, cache)


def _make(fw, workload, batch=None):
    level = "full"
    batch = batch or BATCH.get(workload)
    if workload == "mlp":
        from . import mlp

        return mlp.cases(batch, level)[fw]()
    if workload == "cnn":
        from . import cnn

        return cnn.cases(batch, level)[fw]()
    from . import elementwise

    return elementwise.cases("arith", 1000, level)[fw]()


# ---------------------------------------------------------------- the parent -----------
def _run_child(fw, workload, cache, timeout, level="full"):
    cmd = [sys.executable, "-m", "benchmarks.workloads.compile_latency"]
    cmd += ["--fw", fw, "--workload", workload, "--cache", cache, "--level", level]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {p.returncode}: {tail[0][:200]}"}


def _available(fw, level):
    from .. import peers
    from .common import skip_compile

    if fw == "torch.compile":
        skip_compile(level)
        peers.torch()
    elif fw == "jax.jit":
        peers.jax()
    elif fw != "jitgrad worker" and level == "smoke":
        from ..peers import Unavailable

        raise Unavailable("skipped (--smoke)")


# row key -> (label, unit, chart x, {table column: (framework, metric)}); "jitgrad compiled"
# is the mode named in the label, "jitgrad eager" the eager step with no compile running
_PEERS = ("torch.compile", "jax.jit")


def _eager_row(mode, stat, note, base="eager_base", what="no compile running", base_mode=None):
    """``base_mode``: the mode whose process measured the eager column (default ``mode``)."""
    return (
        f"eager step while the compile runs, {stat} [{note}] (eager: {what})",
        "ms",
        f"eager {stat} ({mode})",
        {
            "jitgrad eager": (
                f"jitgrad {base_mode or mode}",
                base + ("_mean" if stat == "mean" else ""),
            ),
            "jitgrad compiled": (f"jitgrad {mode}", f"eager_{stat}"),
        },
    )


_ONE = "no compile running, NumPy's BLAS on 1 thread"
_INSTALLED = "no compile running, jitgrad's kernels compiled"


ROWS = {
    "cold": (
        "first call -> first compiled call (tier 1), cold cache, new process [worker]",
        "s",
        "cold",
        {"jitgrad compiled": ("jitgrad worker", "cold"), **{p: (p, "cold") for p in _PEERS}},
    ),
    "cold_proc": (
        "import -> first compiled call (tier 1): the import, then first call -> first compiled "
        "call, cold cache, new process [worker]",
        "s",
        "cold (from import)",
        {
            "jitgrad compiled": ("jitgrad worker", "cold_proc"),
            **{p: (p, "cold_proc") for p in _PEERS},
        },
    ),
    "cold_fresh": (
        "first call -> first compiled call (tier 1), cold cache, new process, on a fresh "
        "install (numba's cache of jitgrad's own kernels empty too) [worker]",
        "s",
        "cold (fresh install)",
        {"jitgrad compiled": ("jitgrad fresh", "cold")},
    ),
    "cold_tier2": (
        "first call -> first whole-step (tier 2) call, cold cache [worker]",
        "s",
        "cold (tier 2)",
        {"jitgrad compiled": ("jitgrad worker", "cold_tier2")},
    ),
    "cold_fg": (
        "first call -> first compiled call, cold cache [foreground]",
        "s",
        "cold (fg)",
        {"jitgrad compiled": ("jitgrad foreground", "cold")},
    ),
    "eager_median": _eager_row("worker", "median", "worker"),
    "eager_mean": _eager_row("worker", "mean", "worker"),
    "eager_median_1t": _eager_row("worker", "median", "worker", "eager_base_1t", _ONE),
    "eager_mean_1t": _eager_row("worker", "mean", "worker", "eager_base_1t", _ONE),
    "eager_median_fresh": _eager_row(
        "fresh", "median", "worker, fresh install", what=_INSTALLED, base_mode="worker"
    ),
    "eager_mean_fresh": _eager_row(
        "fresh", "mean", "worker, fresh install", what=_INSTALLED, base_mode="worker"
    ),
    "warm_after_capture": (
        "capture -> first compiled call, warm cache, new process (peers: first call)",
        "s",
        "warm",
        {"jitgrad compiled": ("jitgrad worker", "warm_after_capture")}
        | {p: (p, "warm") for p in _PEERS},
    ),
    "warm": (
        "first call -> first compiled call, warm cache, new process",
        "s",
        "warm (from 1st call)",
        {"jitgrad compiled": ("jitgrad worker", "warm")} | {p: (p, "warm") for p in _PEERS},
    ),
    "second_batch": (
        "second batch size (48 after the first): first call -> first compiled call",
        "s",
        "batch 48",
        {"jitgrad compiled": ("jitgrad worker", "second_batch")}
        | {p: (p, "second_batch") for p in _PEERS},
    ),
    "steady": (
        "steady-state compiled call",
        "ms",
        "steady",
        {"jitgrad compiled": ("jitgrad worker", "steady")} | {p: (p, "steady") for p in _PEERS},
    ),
    "steady_tier1": (
        "steady call at tier 1 (Python step over compiled kernels; eager: no compile)",
        "ms",
        "steady (tier 1)",
        {
            "jitgrad eager": ("jitgrad worker", "eager_base"),
            "jitgrad compiled": ("jitgrad worker", "steady_tier1"),
        },
    ),
}


def _record(samples, fw, kind, r):
    """File one child's numbers under (framework, metric)."""

    def add(metric, x):
        if x is not None:
            samples.setdefault((fw, metric), []).append(x)

    if kind == "cold":
        add("cold", r["first_s"])
        add("cold_proc", r["import_s"] + r["first_s"])
        add("eager_median", r.get("eager_during_median"))
        add("eager_mean", r.get("eager_during_mean"))
        for m in ("eager_base", "eager_base_mean", "eager_base_1t", "eager_base_1t_mean"):
            add(m, r.get(m + "_s"))
        add("second_batch", (r.get("second_batch") or {}).get("first_s"))
        add("cold_tier2", r.get("tier2_s"))
        add("steady_tier1", r.get("steady_tier1_s"))
    else:
        add("warm", r["first_s"])
        add("warm_after_capture", r["after_capture_s"])
        add("steady", r["steady_s"])


def measure(level, log=None):
    """Returns {workload: ({row key: {column: Result | str}}, raw records, workload title)}."""
    from ..peers import Unavailable

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    reps = {"smoke": 1, "quick": 1, "full": 3}[level]
    out = {}
    for workload in LEVEL_WORKLOADS[level]:
        samples, raw, why = {}, [], {}
        for fw in FRAMEWORKS:
            try:
                if level != "full" and fw in JITGRAD[1:]:
                    raise Unavailable(f"skipped (--{level})")
                if workload == "cnn" and fw in JITGRAD and fw not in CNN_MODES:
                    raise Unavailable("skipped (the CNN rows: the worker mode only)")
                _available(fw, level)
            except Unavailable as e:
                why[fw] = str(e)
        n_reps = {fw: reps for fw in FRAMEWORKS}
        n_reps["jitgrad fresh"] = 1  # the fresh install: once
        if level == "full":
            n_reps["jitgrad worker"] = WORKER_REPS
        for rep in range(max(n_reps.values())):
            for fw in FRAMEWORKS:
                if fw in why or rep >= n_reps[fw]:
                    continue
                d = tempfile.mkdtemp(prefix="jg-bench-cache-")
                try:
                    # the warm process is the same for every jitgrad mode: measured once
                    kinds = ("cold",) if fw in JITGRAD[1:] else ("cold", "warm")
                    for k in kinds:
                        log(f"  (e) {workload} {fw}: {k} process {rep + 1}/{n_reps[fw]} ...")
                        r = _run_child(fw, workload, d, timeout=1200, level=level)
                        r.update(framework=fw, kind=k, rep=rep, workload=workload)
                        raw.append(r)
                        if "error" in r:
                            why[fw] = "failed: " + r["error"]
                            break
                        _record(samples, fw, k, r)
                finally:
                    shutil.rmtree(d, ignore_errors=True)
        table = {}
        for key, (_, _, _, cols) in ROWS.items():
            table[key] = {}
            for col, (fw, metric) in cols.items():
                xs = samples.get((fw, metric))
                if fw in why:
                    table[key][col] = why[fw]
                elif xs:
                    table[key][col] = Result([Block(x, x, None, None) for x in xs], 1, 1.0, 1)
                else:
                    table[key][col] = "n/a"
        out[workload] = (table, raw, WORKLOADS[workload])
    return out


def rows(level):
    holder = {}

    def get(workload, key):
        if "m" not in holder:
            holder["m"] = measure(level)
        table, raw, _ = holder["m"][workload]
        return table[key], raw

    out = []
    for workload in LEVEL_WORKLOADS[level]:
        what = WORKLOADS[workload]
        for key, (label, unit, x, _) in ROWS.items():
            r = Row("compile", f"(e) compile: {label} ({what})", {}, unit=unit, x=x)
            r.group = "(e) compile latency"
            r.precomputed = lambda key=key, w=workload: get(w, key)
            out.append(r)
    return out


# ---------------------------------------------------------------- compile breakdown ----
def breakdown(workload="mlp"):
    """Where numba's cold compile of the workload's generated step goes, by phase and by
    function (numba's event API, exclusive CPU times: the wall time varies with the load);
    run in a fresh process: ``python -m benchmarks.workloads.compile_latency --breakdown``."""
    import collections

    import numpy as np

    os.environ["JITGRAD_ASYNC_COMPILE"] = "0"
    os.environ["JITGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="jg-breakdown-")
    import numba
    from numba.core import event as ev

    fn = _make("jitgrad compiled", workload)
    fn()
    fn()  # the recording call: the executable exists, nothing compiled yet
    tr = fn.traced
    exe = tr.last.exe
    args = exe._args(tr.last.gather(tr._last_call[2]))
    sig = tuple(numba.typeof(np.ascontiguousarray(a)) for a in args)
    stack, phases, per_fn = [], collections.Counter(), collections.defaultdict(float)

    class Listener(ev.Listener):
        def __init__(self, kind):
            self.kind = kind

        def on_start(self, e):
            d = e.data if isinstance(e.data, dict) else {}
            if self.kind == "numba:compile":
                name = d["dispatcher"].py_func.__name__
            else:
                name = str(d.get("name", "")).split(" [")[0]
            stack.append([self.kind, name, time.process_time(), 0.0])

        def on_end(self, e):
            kind, name, t0, inner = stack.pop()
            dur = time.process_time() - t0
            excl = dur - inner
            if stack:
                stack[-1][3] += dur
            if kind == "numba:llvm_lock":
                phase = "LLVM optimisation + machine code"
            elif kind == "numba:compile":
                phase = "dispatcher overhead"
            elif "type_inference" in name:
                phase = "type inference"
            elif name == "native_lowering":
                phase = "lowering to LLVM IR (incl. CPython wrappers)"
            else:
                phase = "other numba passes"
            phases[phase] += excl
            owner = next((x[1] for x in reversed(stack) if x[0] == "numba:compile"), name)
            if kind == "numba:compile":
                owner = name
            per_fn[owner] += excl

    kinds = ("numba:run_pass", "numba:llvm_lock", "numba:compile")
    listeners = [(k, Listener(k)) for k in kinds]
    for k, lis in listeners:
        ev.register(k, lis)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        exe.fn.compile(sig)
    finally:
        for k, lis in listeners:
            ev.unregister(k, lis)
    total = time.perf_counter() - t0
    cpu = time.process_time() - c0  # less load-dependent than the wall time
    kernels = sum(v for k, v in per_fn.items() if k.startswith("k_"))
    return {
        "workload": WORKLOADS[workload],
        "loops": exe.loops,
        "kernels": exe.n_kernels,
        "total_s": total,
        "cpu_s": cpu,
        "by_phase_s": dict(phases.most_common()),
        "step_function_s": per_fn.get("step", 0.0),
        "fused_kernels_s": kernels,
        "numba_internal_overloads_s": sum(per_fn.values()) - per_fn.get("step", 0.0) - kernels,
        "load_average": open("/proc/loadavg").read().split()[0]
        if os.path.exists("/proc/loadavg")
        else None,
    }


def _warm_pieces(workload, cache):
    """In a new process on a warm cache: the pieces of a warm start, in order."""
    t = {}
    t0 = time.perf_counter()
    import numba

    t["import numba"] = time.perf_counter() - t0
    os.environ.update(JITGRAD_CACHE_DIR=cache, JITGRAD_ASYNC_COMPILE="0")
    t0 = time.perf_counter()
    import numpy as np

    import jitgrad  # noqa: F401

    t["import jitgrad"] = time.perf_counter() - t0
    from jitgrad.compile.backends import cache as jcache

    fn = _make("jitgrad compiled", workload)
    t0 = time.perf_counter()
    fn()
    t["call 1 (eager)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fn()
    t["call 2 (capture: trace, passes, codegen, module load)"] = time.perf_counter() - t0
    tr = fn.traced
    exe = tr.last.exe
    args = exe._args(tr.last.gather(tr._last_call[2]))
    sig = tuple(numba.typeof(np.ascontiguousarray(a)) for a in args)
    t0 = time.perf_counter()
    hit = jcache.has_compiled(exe.fn, sig)
    t["index lookup"] = time.perf_counter() - t0
    from numba.core.registry import cpu_target

    t0 = time.perf_counter()
    cpu_target.target_context.refresh()
    t["numba target initialisation (once per process)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    exe.fn.compile(sig)
    t["numba cache load (read, unpickle, rebuild)"] = time.perf_counter() - t0
    exe.compile_seconds = 0.0
    t0 = time.perf_counter()
    fn()
    t["first compiled call"] = time.perf_counter() - t0
    return {"seconds": t, "hit": hit and jcache.loaded_from_disk(exe.fn, sig)}


def warm_breakdown(workload="mlp"):
    """Fill a fresh cache in one process, then time the warm-start pieces in another:
    ``python -m benchmarks.workloads.compile_latency --warm-breakdown``."""
    d = tempfile.mkdtemp(prefix="jg-warm-")
    try:
        r = _run_child("jitgrad foreground", workload, d, timeout=1200, level="quick")
        if "error" in r:
            return r
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        cmd = [sys.executable, "-m", "benchmarks.workloads.compile_latency"]
        cmd += ["--warm-pieces", "--workload", workload, "--cache", d]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=root)
        lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
        return json.loads(lines[-1]) if lines else {"error": p.stderr[-500:]}
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--fw")
    p.add_argument("--breakdown", action="store_true", help="where the cold compile goes")
    p.add_argument("--warm-breakdown", action="store_true", help="where a warm start goes")
    p.add_argument("--warm-pieces", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--workload", default="mlp")
    p.add_argument("--cache")
    p.add_argument("--level", default="full")
    a = p.parse_args()
    if a.breakdown:
        print(json.dumps(breakdown(a.workload), indent=1))
    elif a.warm_breakdown:
        print(json.dumps(warm_breakdown(a.workload), indent=1))
    elif a.warm_pieces:
        print(json.dumps(_warm_pieces(a.workload, a.cache)))
    else:
        print(json.dumps(_child(a.fw, a.workload, a.cache, a.level)))
