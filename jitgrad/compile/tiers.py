"""Tiered compile of a CPU step (the default async mode): a first compiled call after the
kernels only, the whole-step compile later.

numba compiles a generated step as one function into which it links every fused kernel and
optimises the whole again: most of a cold compile (notes/issue-13.md). So the async compile
runs in two tiers, both in the compile worker process:

- **tier 1**: the step's Python version (the generated source runs as Python: ``cview`` is a
  reshape there, ``prange`` a range, ``objmode`` a no-op) with each fused kernel compiled on
  its own, in a module of its own **keyed by the kernel's source** (identical kernels are
  shared by graphs, residual blocks and processes through the disk cache), and the
  ``K``/``CK``/``vmath`` functions it calls compiled for the types it calls them with. The
  worker compiles them (spread over the workers where there are several); this process loads
  them from disk. Each statement of the step then costs Python's microseconds.
- **tier 2**: the whole-step numba compile as before, started once tier 1 runs, swapped in
  when it is loaded. A step of more than ``JITGRAD_TIER2_MAX_STMTS`` statements (default
  ``TIER2_MAX_STMTS``) stays at tier 1: numba's whole-step compile grows faster than the
  step (a ResNet-18 step did not finish in 25 minutes), so it would not pay; ``explain()``
  says so, and a warning (once) says when tier 1 measures slower than the eager step.

Both tiers run the same kernels in the same order, so their results are bit-identical (the
tests compare them). ``JITGRAD_TIERED=0`` turns tier 1 off (the whole-step compile only). The
foreground mode (``JITGRAD_ASYNC_COMPILE=0``) is unchanged: the first compiled call compiles
the whole step in this process (tier 2 directly).
"""

import copy
import hashlib
import importlib
import os
import pickle
import queue
import tempfile
import time
import types
import warnings

import numpy as np

from .backends import llvm  # light: llvmlite is imported on first use

TIER2_MAX_STMTS = 400  # statements of the step function; above, it stays at tier 1
_TIER1_SAMPLES = 5  # tier-1 calls timed for the slower-than-eager check


def enabled():
    """Whether the async compile runs tier 1 first (``JITGRAD_TIERED``, default on)."""
    return os.environ.get("JITGRAD_TIERED", "1") not in ("0", "")


def standins_enabled():
    """Whether tier 1 may run NumPy stand-ins of library kernels not compiled yet
    (``JITGRAD_TIER1_STANDINS``, default on; off: tier 1 waits for their compile)."""
    return os.environ.get("JITGRAD_TIER1_STANDINS", "1") not in ("0", "")


def tier2_limit():
    """Statements of a step above which it stays at tier 1 (``JITGRAD_TIER2_MAX_STMTS``)."""
    v = os.environ.get("JITGRAD_TIER2_MAX_STMTS", "").strip()
    try:
        return int(v) if v else TIER2_MAX_STMTS
    except ValueError:
        warnings.warn(
            f"JITGRAD_TIER2_MAX_STMTS={v!r} is not an integer; using {TIER2_MAX_STMTS}",
            RuntimeWarning,
            stacklevel=2,
        )
        return TIER2_MAX_STMTS


def split_kernels(src):
    """(module header, {kernel name: its decorated source}, statements of ``step``) of a
    generated CPU module. A scan of its lines (top-level functions start at column 0, one
    statement a line in the generated code): ``ast`` took 0.3-0.7 s on a ResNet-18 step."""
    lines = src.splitlines()
    starts = [  # a top-level function's first line: its decorator, or its def
        i
        for i, ln in enumerate(lines)
        if ln.startswith(("@", "def ")) and not (i and lines[i - 1].startswith("@"))
    ]
    blocks, n_step = {}, 0
    for i in starts:
        j = i
        while not lines[j].startswith("def "):
            j += 1
        name = lines[j][4:].split("(", 1)[0].strip()
        end = j + 1
        while end < len(lines) and not (lines[end][:1].strip() and lines[end][0] != "#"):
            end += 1
        while end > j + 1 and not lines[end - 1].strip():
            end -= 1
        if name == "step":
            n_step = sum(1 for ln in lines[j + 1 : end] if ln.strip() and ln.lstrip()[0] != "#")
        elif name.startswith("k_") and j > i:
            blocks[name] = "\n".join(lines[i:end])
    header = "\n".join(lines[: starts[0]]) if starts else src
    return header, blocks, n_step


def kernel_module(header, block):
    """(key, source) of the module holding one kernel: keyed by its source (and the header:
    the imports and fastmath flags it is compiled with), so identical kernels share it."""
    from .backends.cpu import _VERSION

    src = f"{header}\n{block}\n"
    return hashlib.sha256(f"tier1-{_VERSION}{src}".encode()).hexdigest()[:24], src


def python_step(mod, kernels, standins=None):
    """The generated ``step``'s Python version with ``kernels`` ({name: dispatcher}) in its
    globals in place of the module's own (numba would link those into the step), and with
    ``standins`` ({module name: {function: NumPy stand-in}}): each such module's global is
    a copy of the module (``module.__dict__``) with the stand-ins in it; returns (step,
    {module name: that copy}) then, to swap the compiled functions back in (``setattr``)."""
    py = mod.step.py_func
    g = dict(py.__globals__)
    g.update(kernels)
    copies = {}
    for name, v in list(g.items()):
        if isinstance(v, types.ModuleType) and v.__name__ in (standins or {}):
            c = copies.get(v.__name__)
            if c is None:
                c = copies[v.__name__] = types.ModuleType(v.__name__)
                c.__dict__.update(v.__dict__)
                c.__dict__.update(standins[v.__name__])
            g[name] = c
    fn = types.FunctionType(py.__code__, g, "step_tier1", py.__defaults__, py.__closure__)
    return (fn, copies) if standins is not None else fn


def _standin(module, f):
    """The NumPy stand-in of library function ``module.f`` (``STANDINS`` of the module), or
    None."""
    return getattr(importlib.import_module(module), "STANDINS", {}).get(f)


_PAR = "parallel=True"


def serial_twin(block):
    """A ``parallel=True`` kernel's source compiled serially (``prange`` runs as ``range``),
    or None for a serial kernel. Bit-identical to the parallel one: its prange loops are
    elementwise or over chunks each writing its own partial sum (cpu.py), so nothing depends
    on how the iterations are split; numba's parfor pass makes it 2-4x slower to compile."""
    head, sep, rest = block.partition("\n")
    return head.replace(_PAR, "parallel=False") + sep + rest if _PAR in head else None


def _kernel_fn(header, block, f):
    from .backends import cache as _cache

    key, src = kernel_module(header, block)
    kmod, _ = _cache.load_module(key, src, True)
    if not getattr(kmod, "CACHE", False) or not getattr(kmod, "__file__", None):
        raise OSError("the kernel modules have no disk cache")
    return getattr(kmod, f), (kmod.__name__, kmod.__file__)


def _todo(fn, sigs):
    from .backends import cache as _cache

    return [s for s in sigs if s not in fn.overloads and not _cache.has_compiled(fn, s)]


class _Plan:
    """What tier 1 needs for one step: the worker jobs and how to load their results. A
    parallel kernel runs as its serial twin first (``serial_twin``); the parallel one is a
    later job (``self.later``), swapped in when loaded. A library function not compiled yet
    (``K.gemm`` on a fresh install: numba's cache beside the package is empty) that has a
    NumPy stand-in runs as that (``self.standins``) until its job is done and it is loaded;
    one compiled on disk but not loaded in this process too, until it is loaded after tier
    1's first call."""

    def __init__(self, exe, calls, on_spec=None):
        """``on_spec(llvm.Spec, numba fallback job)``: called for each kernel to compile with
        llvmlite as it is planned (the worker lowers and compiles it while the rest is
        planned; without ``on_spec`` it is lowered here)."""
        header, blocks, self.n_stmts = split_kernels(exe.src)
        self.jobs, self.loads, self.kernels, self.later = [], [], {}, []
        self.job_loads = []  # (dispatcher, signatures) of each job, in the order of ``jobs``
        self.shared = 0  # kernels found compiled on disk already (another graph's, another run's)
        # (name, llvm.Spec, its lowering or IR text, numba fn, sig); (name, why)
        self.llvm, self.llvm_skipped = [], []
        # (module name, function, dispatcher, signatures to load, stand-in, those to compile)
        self.standins = []
        llvm_on = llvm.enabled()
        for (m, f), sigs in calls.items():
            if m is None:
                block = blocks.get(f)
                if block is None:
                    raise LookupError(f"kernel {f} not found in the generated module")
                fn, where = _kernel_fn(header, block, f)
                twin = serial_twin(block)
                if twin is not None and _todo(fn, sigs):  # parallel, not compiled yet
                    self.later.append((f, fn, where, sigs))
                    fn, where = _kernel_fn(header, twin, f)
                self.kernels[f] = fn
                if llvm_on and len(sigs) == 1 and _todo(fn, sigs):
                    try:  # lowered and compiled in the worker, or here (_tier1)
                        spec = llvm.Spec(twin or block, header, sigs[0])
                        if on_spec is None:
                            low = llvm.ir_text(*spec.lowering)
                        else:
                            low = spec.lowering
                            on_spec(spec, (where[0], where[1], f, pickle.dumps(sigs)))
                        self.llvm.append((f, spec, low, fn, sigs[0]))
                        continue
                    except llvm.Unsupported as e:
                        self.llvm_skipped.append((f, str(e)))
            else:
                fn = getattr(importlib.import_module(m), f)
                where = (m, None)
                stand = _standin(m, f) if standins_enabled() else None
                todo = _todo(fn, sigs)
                load = [s for s in sigs if s in todo or s not in fn.overloads]
                if stand is not None and load:
                    # not compiled yet (its job runs in the library worker), or on disk but
                    # not loaded: numba's cache load (~5 ms of Python a signature, most of
                    # this thread's work) then waits until after tier 1's first call instead
                    # of taking the GIL from the eager calls before it
                    self.standins.append((m, f, fn, load, stand, todo))
                    continue
            todo = _todo(fn, sigs)
            if m is None and not todo:
                self.shared += 1
            if todo:
                self.jobs.append((where[0], where[1], f, todo))
                self.job_loads.append((fn, sigs))
            self.loads.append((fn, sigs))
        self.n_kernels = len(self.kernels)


def compile_tiered(variant, arrays):
    """The async compile of ``variant`` (a CPU step) in tiers; runs in the compile thread.
    Tier 1 (when it can be built) makes the variant ready with a copy of its executable
    running the Python step; tier 2 then swaps the real executable in. Whatever fails in tier
    1 is reported in ``exe.tier_info`` and the whole-step compile goes on as before."""
    from . import worker as _worker

    exe = variant.exe
    t0 = time.perf_counter()
    info = exe.tier_info = {"tier": None, "stmts": None}
    t1 = None
    try:
        t1 = _tier1(variant, exe, arrays, info)
    except Exception as e:  # no tier 1: the whole-step compile as before
        if _worker.exiting():
            raise _worker.Exiting() from None
        info["tier1_error"] = f"{type(e).__name__}: {str(e)[:300]}"
        warnings.warn(
            f"jitgrad.trace({variant.fn_name}): tier 1 of the async compile failed "
            f"({info['tier1_error']}); calls run eagerly until the whole step is compiled",
            RuntimeWarning,
            stacklevel=2,
        )
    if t1 is not None:
        info["tier"] = 1
        info["tier1_seconds"] = time.perf_counter() - t0
        variant.exe = t1
        variant.ready = True
        limit = tier2_limit()
        if info["stmts"] > limit:
            info["tier2"] = (
                f"not compiled: the step has {info['stmts']} statements, more than "
                f"JITGRAD_TIER2_MAX_STMTS={limit} (numba's whole-step compile would take "
                "longer than it can pay back); the step stays at tier 1"
            )
        _standin_kernels(variant, t1, info, t0)
        _parallel_kernels(variant, t1, info, t0)
        if "tier2" in info:
            t1.tier_info = info
            return
    if t1 is not None:  # tier 2 links tier 1's compiled kernels instead of compiling its own
        _worker.link_kernels(
            exe.mod.__name__,
            {
                k: (d.py_func.__module__, d.py_func.__globals__["__file__"])
                for k, d in _numba_kernels(t1, info)
            },
        )
    try:
        exe.precompile(arrays)  # the worker compiles the whole step; then it loads from disk
    except Exception as e:
        if t1 is None:
            raise
        info["tier2"] = f"failed ({type(e).__name__}: {str(e)[:300]}); the step stays at tier 1"
        t1.tier_info = info
        warnings.warn(
            f"jitgrad.trace({variant.fn_name}): the whole-step compile {info['tier2']}",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    info["tier"] = exe.tier = 2
    info["tier2_seconds"] = time.perf_counter() - t0
    exe.tier_info = info
    variant.exe = exe  # swapped in: the next call runs the whole-step code
    if t1 is not None:
        t1._temps = None  # its temporaries; kept as ``exe.tier1_exe`` for comparisons
        exe.tier1_exe = t1


def _numba_kernels(t1, info):
    """(name, numba dispatcher) of tier 1's kernels for tier 2 to link: the llvm kernels'
    numba versions (the same source) are compiled in the worker first, as their own jobs,
    so that the whole-step compile links them as it does the others. Those that fail to
    compile are left out (tier 2 compiles them inside the step)."""
    from . import worker as _worker

    out, jobs, llvm_fns = [], [], []
    for k, d in t1.kernel_fns:
        if not isinstance(d, llvm.Kernel):
            out.append((k, d))
            continue
        fn = d.fallback
        llvm_fns.append((k, fn))
        if d.sig is not None and _todo(fn, [d.sig]):
            py = fn.py_func
            jobs.append((py.__module__, py.__globals__["__file__"], k, [d.sig]))
    if jobs:
        try:
            _worker.submit_jobs(t1.key, jobs).result()
        except Exception as e:
            if _worker.exiting():
                raise _worker.Exiting() from None
            info["tier2_llvm_twins_error"] = f"{type(e).__name__}: {str(e)[:300]}"
            return out
    return out + llvm_fns


def _load_after(submit, fns, info, key):
    """Wait for the worker job ``submit()`` returns (a Future, or None: nothing to wait
    for), then load ``fns`` ([(dispatcher, signatures)]) from disk. False, with the error in
    ``info[key + "_error"]``, when either fails."""
    from . import worker as _worker

    try:
        fut = submit()
        if fut is not None:
            fut.result()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for fn, sigs in fns:
                for sg in sigs:
                    fn.compile(sg)  # from disk
    except Exception as e:
        if _worker.exiting():
            raise _worker.Exiting() from None
        info[key + "_error"] = f"{type(e).__name__}: {str(e)[:300]}"
        return False
    return True


def _standin_kernels(variant, t1, info, t0):
    """After tier 1 runs: wait for the library functions it runs as NumPy stand-ins to
    compile, load them and swap them into its step. A failure keeps the stand-ins (NumPy's
    results, slower) and says so, in a warning and in ``explain()``."""
    copies, entries, fut = getattr(t1, "tier1_standins", (None, None, None))
    if not entries:
        return
    if not _load_after(
        lambda: fut, [(fn, sigs) for _, _, fn, sigs in entries], info, "tier1_standins"
    ):
        warnings.warn(
            f"jitgrad.trace({variant.fn_name}): jitgrad's library kernels "
            f"{', '.join(info['tier1_standins'])} could not be compiled or loaded "
            f"({info['tier1_standins_error']}); the step's tier 1 keeps running their NumPy "
            "stand-ins (slower)",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    for m, f, fn, _ in entries:
        setattr(copies[m], f, fn)  # the next call of the Python step runs the compiled one
    t1.tier1_fns = list({id(x): x for x in t1.tier1_fns + [e[2] for e in entries]}.values())
    info["tier1_standins_seconds"] = time.perf_counter() - t0


def _parallel_kernels(variant, t1, info, t0):
    """After tier 1 runs: compile the parallel kernels it runs as serial twins, and swap
    them into its step (and into the kernels tier 2 links). A failure keeps the twins (the
    same bits, serial) and says so in ``explain()``."""
    from . import worker as _worker

    later = t1.tier1_later
    if not later:
        return
    info["tier1_parallel"] = len(later)

    def submit():
        jobs = [(w[0], w[1], f, _todo(fn, sigs)) for f, fn, w, sigs in later]
        jobs = [j for j in jobs if j[3]]
        return _worker.submit_jobs(t1.key, jobs) if jobs else None

    if not _load_after(submit, [(fn, sigs) for _, fn, _, sigs in later], info, "tier1_parallel"):
        return
    g = t1.fn.__globals__
    kernels = dict(t1.kernel_fns)
    for f, fn, _, _ in later:
        g[f] = kernels[f] = fn  # the next call of the Python step runs the parallel kernel
    t1.kernel_fns = list(kernels.items())
    info["tier1_parallel_seconds"] = time.perf_counter() - t0


def _tier1(variant, exe, arrays, info):
    """The tier-1 executable (a copy of ``exe`` whose step is the Python one), or None when
    the step compiles in one go anyway (already compiled, workers off, no disk cache)."""
    import numba

    from . import worker as _worker
    from .backends import cache as _cache

    if not enabled() or not _worker.enabled() or not getattr(exe.mod, "CACHE", False):
        return None
    args = [np.ascontiguousarray(a) for a in exe._args(arrays)]
    sig = tuple(numba.typeof(a) for a in args)
    if sig in exe.fn.overloads or _cache.has_compiled(exe.fn, sig):
        return None  # the whole step is there already: loading it is the fast path
    t0 = time.perf_counter()
    # each kernel llvmlite can compile goes to the worker at once (one job each: lowering
    # ~10 ms of Python, LLVM ~30-90 ms), while the rest of the plan is made; its result is
    # loaded as it comes (``finished``). A kernel the worker cannot lower it compiles with
    # numba instead (the job's fallback), and this thread loads that from disk.
    finished, llvm_futs = queue.Queue(), []
    in_worker = llvm.mode() == "worker"

    def stream(spec, fallback):
        job = (_worker.LLVM_JOB, None, spec.key, [llvm.job(spec, fallback)])
        llvm_futs.append(_worker.submit_jobs(exe.key, [job], on_result=finished.put))

    on_spec = stream if in_worker else None
    plan = None
    path = _plan_path(exe.key, sig)
    calls = _load_calls(path)
    if calls is not None:  # a warm process: the call plan stored by the first one
        try:
            plan = _Plan(exe, calls, on_spec)
            info["tier1_plan_stored"] = True
        except Exception:  # stale or damaged: find it again
            plan = None
    if plan is None:
        calls = _worker.step_calls(exe.mod, args)
        if calls is None:
            raise RuntimeError("the step's Python version did not run with stub kernels")
        plan = _Plan(exe, calls, on_spec)
        _save_calls(path, calls)
    info["stmts"] = plan.n_stmts
    info["tier1_kernels"] = plan.n_kernels
    info["tier1_shared"] = plan.shared
    info["tier1_plan_seconds"] = time.perf_counter() - t0
    load_s = [0.0]
    done = set()

    def load(fn, sigs):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", numba.NumbaWarning)
            for sg in sigs:
                fn.compile(sg)  # from disk: the worker compiled it (or an earlier run did)
        done.add(id(fn))
        load_s[0] += time.perf_counter() - t

    llvm_t = [0.0, 0.0, 0, 0]  # wall s, CPU s here, object codes compiled here, unsupported
    llvm_todo = {e[1].key: e for e in plan.llvm}  # key -> entry not loaded yet

    def build_llvm(keys):
        """Load (from disk: the worker compiled it) or compile here the llvm kernels."""
        t, c = time.perf_counter(), time.thread_time()
        for key in keys:
            f, spec, low, fn, sg = llvm_todo.pop(key)
            try:
                data, compiled = llvm.object_code(key, low)
                plan.kernels[f] = llvm.Kernel(spec, llvm.load(spec, data), fn, sg)
                llvm_t[2] += compiled
            except llvm.Unsupported as e:  # the worker compiled it with numba instead
                plan.llvm_skipped.append((f, str(e)))
                llvm_t[3] += 1
                load(fn, [sg])
            except Exception as e:  # numba then, in this process (warned)
                info.setdefault("tier1_llvm_errors", []).append(f"{f}: {type(e).__name__}: {e}")
                warnings.warn(
                    f"jitgrad.trace({variant.fn_name}): llvmlite could not compile fused loop "
                    f"{f} ({type(e).__name__}: {str(e)[:200]}); numba compiles it here",
                    RuntimeWarning,
                    stacklevel=2,
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", numba.NumbaWarning)
                    fn.compile(sg)
        llvm_t[0] += time.perf_counter() - t
        llvm_t[1] += time.thread_time() - c

    info["tier1_llvm_skipped"] = plan.llvm_skipped
    futs = list(llvm_futs)
    if plan.jobs:
        futs.append(_worker.submit_jobs(exe.key, plan.jobs, on_result=finished.put))
    standin_fut = None
    jobs = [(m, None, f, todo) for m, f, _, _, _, todo in plan.standins if todo]
    if jobs:  # in the library worker (worker._LIBRARY): tier 1 does not wait
        standin_fut = _worker.submit_jobs(exe.key, jobs, library=True)
    if futs:
        # each function is loaded as soon as its job is done, while the worker compiles the
        # next ones: only the last load stays on the way to the first compiled call
        by_job = dict(zip([(m, f) for m, _, f, _ in plan.jobs], plan.job_loads))
        compiling = {id(fn) for fn, _ in plan.job_loads}
        for fn, sigs in plan.loads:  # what is compiled already, while the worker starts
            if id(fn) not in compiling and id(fn) not in done:
                load(fn, sigs)
        if not in_worker:  # in this thread: llvmlite releases the GIL while LLVM works
            build_llvm(list(llvm_todo))
        while not all(f.done() for f in futs) or not finished.empty():
            try:
                what = finished.get(timeout=0.05)
            except queue.Empty:
                continue
            if what in by_job:
                load(*by_job[what])
            elif what[0] == _worker.LLVM_JOB and what[1] in llvm_todo:
                build_llvm([what[1]])
        res = [f.result() for f in futs]  # a failed job fails tier 1, as before
        info["tier1_worker"] = {
            "seconds": max(r["seconds"] for r in res),
            "jobs": [j for r in res for j in r["jobs"]],
            "workers": len({j["pid"] for r in res for j in r["jobs"]}),
        }
        info["tier1_compiled"] = len(plan.jobs)
    else:
        info["tier1_worker"] = None
        info["tier1_compiled"] = 0
    build_llvm(list(llvm_todo))  # what is left (a job failed: compiled here)
    if plan.llvm:  # (kernels, object codes compiled in this process, wall s, CPU s here)
        n = len(plan.llvm) - llvm_t[3]
        info["tier1_llvm"] = (n, llvm_t[2], llvm_t[0], llvm_t[1], llvm.mode())
    t0 = time.perf_counter()
    for fn, sigs in plan.loads:
        if id(fn) not in done:
            load(fn, sigs)
    info["tier1_load_seconds"] = load_s[0]
    info["tier1_load_after_s"] = time.perf_counter() - t0  # on the way after the last job
    t1 = copy.copy(exe)
    stand = {}
    for m, f, _, _, sf, _ in plan.standins:
        stand.setdefault(m, {})[f] = sf
    t1.fn, copies = python_step(exe.mod, plan.kernels, stand)
    # (module copies in the step's globals, [(module, function, dispatcher, signatures)], job)
    t1.tier1_standins = (copies, [e[:4] for e in plan.standins], standin_fut)
    names = lambda es: sorted(f"{m.rsplit('.', 1)[-1]}.{f}" for m, f, *_ in es)  # noqa: E731
    info["tier1_standins"] = names(plan.standins)
    info["tier1_standins_on_disk"] = names(e for e in plan.standins if not e[5])  # only loaded
    t1.compile_seconds = 0.0  # nothing left to compile at the first call
    # the run-time thread plan is shared: on a busy machine tier 1's prange loops wait for
    # cores as tier 2's do (measured: MLP batch 512 at load 8, calibrated plan 144 ms a call,
    # the serial plan tier 2 had picked 14 ms); what it learns carries over to tier 2
    t1._temps = None
    t1.tier = 1
    t1.tier_info = info
    t1.kernel_fns = list(plan.kernels.items())  # (name, dispatcher) of its kernels
    t1.tier1_later = plan.later  # parallel kernels running as serial twins for now
    fns = [fn for fn in plan.kernels.values() if not isinstance(fn, llvm.Kernel)]
    fns += [fn for fn, _ in plan.loads]
    t1.tier1_fns = list({id(fn): fn for fn in fns}.values())
    info["tier1_misses"] = _misses(t1.tier1_fns)
    return t1


def _plan_path(key, sig):
    """The file of the call plan (``worker.step_calls``'s answer) of step ``key`` for argument
    types ``sig``: beside the step's entry, so evicted with it (``cache.entries``)."""
    from .backends import cache as _cache

    h = hashlib.sha256(repr(sig).encode()).hexdigest()[:16]
    return os.path.join(_cache.entry_root(), f"{_cache.PREFIX}{key}.{h}.plan")


def _load_calls(path):
    """The stored call plan, or None (none stored, unreadable, damaged)."""
    try:
        with open(path, "rb") as f:
            calls = pickle.load(f)
    except Exception:
        return None
    return calls if isinstance(calls, dict) else None


def _save_calls(path, calls):
    """Store the call plan for the next process (atomic; a failure only costs it the stub
    run)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(calls, f)
        os.replace(tmp, path)
    except Exception:
        pass


def _misses(fns):
    return sum(sum(fn.stats.cache_misses.values()) for fn in fns)


def check_tier1(variant):
    """After a few tier-1 calls of a step that stays at tier 1: warn once when they measure
    slower than the eager calls of the same step (the glue of a very big step in Python)."""
    ts, eager = variant.tier1_times, variant.eager_times
    fns = getattr(variant.exe, "tier1_fns", None)
    if len(ts) == 1 and fns:  # the first call: did numba compile anything in this process?
        info = variant.exe.tier_info
        extra = _misses(fns) - info["tier1_misses"]
        if extra > 0:
            info["tier1_in_process"] = extra
            warnings.warn(
                f"jitgrad.trace({variant.fn_name}): the first tier-1 call compiled {extra} "
                "kernel signature(s) in this process (argument types other than the stub run "
                "found), so it waited for numba; later calls do not",
                RuntimeWarning,
                stacklevel=4,
            )
    if len(ts) < _TIER1_SAMPLES or variant.tier1_warned:
        return
    variant.tier1_warned = True
    info = getattr(variant.exe, "tier_info", None) or {}
    if not eager or "tier2" not in info:
        return
    # the fastest of each: the eager calls ran next to the compile (sharing the cores), the
    # tier-1 ones after it, so medians would favour tier 1 on a busy machine
    t1, te = min(ts), min(eager)
    info["tier1_vs_eager"] = (t1, te)
    if t1 > te:
        warnings.warn(
            f"jitgrad.trace({variant.fn_name}): the step stays at tier 1 (its Python version "
            f"over separately compiled kernels; {info['tier2']}), and a call takes "
            f"{t1 * 1e3:.2f} ms against {te * 1e3:.2f} ms eagerly. Raise "
            "JITGRAD_TIER2_MAX_STMTS to compile the whole step (slow), or call the step "
            "without jitgrad.trace",
            RuntimeWarning,
            stacklevel=4,
        )
