"""Compile generated modules in separate worker processes, so the training process keeps going.

numba holds the interpreter lock for most of a compile, so compiling in a background *thread*
slows every eager step that runs meanwhile. A worker process compiles instead: it imports the
generated module from the jitgrad disk cache (the same file, under the same module name), calls
``dispatcher.compile(sig)`` there, and numba writes the result beside the module (``cache=True``).
The training process then loads the compiled code from disk (the warm path, ~0.2-0.4 s).

- ``submit(key, src, sigs)`` returns a ``concurrent.futures.Future``; ``sigs`` maps function
  names of the module to lists of numba signatures (tuples of numba types). Functions other
  than the last one named (``step`` when present) are compiled first, spread over the workers
  (kernels of one graph in parallel where cores are free), then the last one.
- ``compile_in_worker(mod, key, src, sigs)`` is the whole recipe for an executable's
  ``precompile``: submit, wait (without the GIL), and on any failure fall back to the
  in-process path with a warning. Afterwards ``fn.compile(sig)`` in the caller loads from disk.
- Workers start lazily, are reused, run at a lower priority (``nice``), and die with the
  interpreter (killed at exit; a worker whose parent vanished exits by itself).
- ``JITGRAD_COMPILE_WORKERS``: number of workers (default: CPU count - 1, at least 1, at most
  4); ``0`` turns the worker off (compile in process, as before).

Failure handling: a worker that dies mid-compile is replaced and the job is retried once; a
second death, a compile error, or a cache write error (full disk) resolves the future with an
exception, and ``compile_in_worker`` then compiles in process (without the disk cache when
the disk was the problem). numba writes its cache files atomically (temp file + rename), and a
per-function lock file stops two processes from compiling the same function at once (the
second one then loads the first one's result from disk).
"""

import atexit
import concurrent.futures
import itertools
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
import types
import warnings

_CHILD_ENV = "JITGRAD_COMPILE_WORKER"  # set in worker processes: no nested workers there
RETRIES = 1  # a job whose worker died is retried this many times on a fresh worker
_NICE = 10  # workers run at a lower priority than the training process
# the library worker lower still: on a fresh install its compiles (seconds) share the free
# core with the tier-1 jobs the first compiled call waits for, and should yield it to them
_LIBRARY_NICE = 19


def lower_this_thread():
    """Run the calling thread (the training process's compile thread) at the workers'
    lower priority (Linux: a thread is a task with its own nice value), so that it takes a
    core from the training loop only when one is free; a no-op where that is not possible."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(_NICE, os.getpriority(os.PRIO_PROCESS, tid)))
    except (AttributeError, OSError):
        pass


_HDR = struct.Struct("<Q")
_JOB_ENV = ("JITGRAD_CACHE_DIR", "JITGRAD_CACHE_MAX_MB", "XDG_CACHE_HOME")


class WorkerError(RuntimeError):
    """The worker could not compile the module (numba raised, or the module did not load)."""


class WorkerDied(RuntimeError):
    """A worker process exited while it was compiling (after the retries)."""


class CacheWriteError(OSError):
    """The worker compiled the code but could not write it to the cache (e.g. a full disk)."""


# ---------------------------------------------------------------- framing ---------------
def _send(f, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(_HDR.pack(len(data)) + data)
    f.flush()


def _read_exact(f, n):
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _recv(f):
    hdr = _read_exact(f, _HDR.size)
    if hdr is None:
        return None
    data = _read_exact(f, _HDR.unpack(hdr)[0])
    return None if data is None else pickle.loads(data)


# ---------------------------------------------------------------- configuration ---------
def n_workers():
    """How many worker processes the pool may start (``JITGRAD_COMPILE_WORKERS``)."""
    v = os.environ.get("JITGRAD_COMPILE_WORKERS", "").strip()
    if v:
        try:
            return max(0, int(v))
        except ValueError:
            warnings.warn(
                f"JITGRAD_COMPILE_WORKERS={v!r} is not an integer; using the default",
                RuntimeWarning,
                stacklevel=2,
            )
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def enabled():
    """True when compiles may go to a worker process (not inside a worker, not turned off)."""
    return not os.environ.get(_CHILD_ENV) and n_workers() > 0


# ---------------------------------------------------------------- the parent side -------
class _Job:
    __slots__ = ("task", "name", "path", "func", "sigs", "attempts", "id", "final")

    def __init__(self, task, name, path, func, sigs, final):
        self.task, self.func, self.sigs, self.final = task, func, sigs, final
        # the module: a generated file (name, path), or an importable module (name, None)
        self.name, self.path = name, path
        self.attempts = 0
        self.id = None


class _Task:
    def __init__(self, key, name, path, jobs_spec=None, jobs=None):
        """One module's functions (``jobs_spec`` {func: sigs}: the others first, then
        ``step`` or the last one named), or independent ``jobs`` [(module name, path or
        None, func, sigs)] spread over the workers (no final one)."""
        self.key, self.name, self.path = key, name, path
        self.on_result = None  # called with each finished job's (module name, function)
        self.future = concurrent.futures.Future()
        self.t0 = time.perf_counter()
        self.results = []
        if jobs is not None:
            self.first = [_Job(self, m, p, f, s, False) for m, p, f, s in jobs]
            self.final = None
        else:
            names = list(jobs_spec)
            final = "step" if "step" in jobs_spec else names[-1]
            self.first = [
                _Job(self, name, path, f, jobs_spec[f], False) for f in names if f != final
            ]
            self.final = _Job(self, name, path, final, jobs_spec[final], True)
        self.pending = len(self.first)

    def fail(self, exc):
        if not self.future.done():
            self.future.set_exception(exc)

    def succeed(self):
        if not self.future.done():
            self.future.set_result(
                {
                    "seconds": time.perf_counter() - self.t0,
                    "jobs": self.results,
                    "workers": len({r["pid"] for r in self.results}),
                }
            )


class _Proc:
    """One worker process, its pipes and the jobs sent to it."""

    def __init__(self, pool):
        self.pool = pool
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env[_CHILD_ENV] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.p = subprocess.Popen(
            [sys.executable, "-c", _boot()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # Ctrl-C in the terminal goes to the training process only
        )
        self.pid = self.p.pid
        try:  # niced from the start, before its first job, whichever thread started it (the
            # library worker's first job can come from an eager call); the child renices too
            prio = os.getpriority(os.PRIO_PROCESS, self.pid)
            os.setpriority(os.PRIO_PROCESS, self.pid, max(pool.nice, prio))
        except (AttributeError, OSError):
            pass
        self.jobs = {}  # id -> job (sent, no answer yet)
        self.busy_since = None
        self.err_tail = b""
        self.dead = self.killed = False
        # jobs are written by a thread of their own: a job's message carries its code (IR text:
        # KBs), the pipe holds 64 KB, and a worker behind on its jobs would otherwise block
        # ``send`` (and the pool lock it runs under, which the reader thread needs to hand
        # back results) until it reads on; a ResNet-18 tier-1 plan waited 18 s that way
        self.outq = queue.SimpleQueue()
        self._err = threading.Thread(target=self._drain, daemon=True, name="jitgrad-worker-err")
        self._err.start()
        threading.Thread(target=self._read, daemon=True, name="jitgrad-worker-out").start()
        threading.Thread(target=self._write, daemon=True, name="jitgrad-worker-in").start()

    def send(self, job):
        self.jobs[job.id] = job
        if self.busy_since is None:
            self.busy_since = time.perf_counter()
        msg = {"id": job.id, "name": job.name, "path": job.path, "func": job.func}
        msg["sigs"] = job.sigs
        if job.final:
            msg["links"] = _LINKS.get(job.name)
        msg["env"] = {k: os.environ.get(k) for k in _JOB_ENV}  # as of now, not of the spawn
        self.outq.put(msg)

    def _write(self):
        while True:
            msg = self.outq.get()
            if msg is None:
                return
            try:
                _send(self.p.stdin, msg)
            except (OSError, ValueError):  # the process is gone; _read sees EOF and reassigns
                pass

    def _drain(self):
        for line in iter(self.p.stderr.readline, b""):
            self.err_tail = (self.err_tail + line)[-4000:]

    def _read(self):
        while True:
            try:
                msg = _recv(self.p.stdout)
            except Exception:  # a garbled message: treat like a dead worker
                msg = None
            if msg is None:
                break
            self.pool._answer(self, msg)
        self.dead = True
        self.outq.put(None)  # ends the writer
        try:
            rc = self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self._err.join(timeout=2)  # its last words, for the error message
        self.pool._died(self, rc)

    def kill(self):
        self.dead = self.killed = True
        try:
            self.p.kill()
        except OSError:
            pass


class _Pool:
    def __init__(self, limit=None, nice=_NICE):
        """``limit``: at most this many workers (default ``n_workers()``); ``nice``: their
        priority."""
        self.nice = nice
        self.lock = threading.RLock()
        self.procs = []
        self.ids = itertools.count()
        self.limit = limit

    def _pick(self):
        """The least-loaded live worker, starting a new one while fewer than allowed run."""
        live = [p for p in self.procs if not p.dead]
        self.procs = live
        idle = [p for p in live if not p.jobs]
        if idle:
            return idle[0]
        if len(live) < max(1, self.limit or n_workers()):
            p = _Proc(self)
            self.procs.append(p)
            return p
        return min(live, key=lambda p: len(p.jobs))

    def dispatch(self, job):
        with self.lock:
            job.id = next(self.ids)
            self._pick().send(job)

    def submit(self, task):
        for job in task.first:
            self.dispatch(job)
        if not task.first:
            self.dispatch(task.final)
        return task.future

    def _answer(self, proc, msg):
        with self.lock:
            job = proc.jobs.pop(msg["id"], None)
            if not proc.jobs:
                proc.busy_since = None
        if job is None:
            return
        task = job.task
        if msg["ok"]:
            task.results.append({"func": job.func, **msg["info"]})
            if task.on_result is not None:
                task.on_result((job.name, job.func))
        elif msg["kind"] == "cache":
            return task.fail(CacheWriteError(msg.get("errno") or 0, msg["error"]))
        elif job.final:
            return task.fail(WorkerError(msg["error"]))
        elif task.final is None:  # independent jobs (tier 1's kernels): each one counts
            return task.fail(WorkerError(msg["error"]))
        # a kernel that failed alone is only a missed head start: the step compiles it
        if job.final:
            return task.succeed()
        with self.lock:
            task.pending -= 1
            go = task.pending == 0
        if go and task.final is None:
            task.succeed()
        elif go:
            self.dispatch(task.final)

    def _died(self, proc, rc):
        with self.lock:
            jobs = list(proc.jobs.values())
            proc.jobs.clear()
            if proc in self.procs:
                self.procs.remove(proc)
        why = f"signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
        for job in jobs:
            if not proc.killed and job.attempts < RETRIES:
                job.attempts += 1
                try:
                    self.dispatch(job)
                    continue
                except OSError as e:  # cannot start a new worker
                    why = f"{why}, and no new worker could start ({e})"
            tail = proc.err_tail.decode("utf-8", "replace").strip()[-1500:]
            job.task.fail(
                WorkerDied(
                    f"jitgrad compile worker (pid {proc.pid}) died with {why} while "
                    f"compiling {job.func} of {job.name}"
                    + (f"; its last output:\n{tail}" if tail else "")
                )
            )

    def shutdown(self):
        with self.lock:
            procs, self.procs = self.procs, []
        for p in procs:
            p.kill()


_POOL = _Pool()
# jitgrad's own library kernels on their first use after an install (``K.gemm``, the conv
# kernels: ~5-30 s of numba each group) compile in a worker of their own, so that they never
# queue in front of a step's tier-1 jobs (~0.5 s): meanwhile eager calls run the ops' NumPy
# implementations and tier 1 their stand-ins. It starts only when such a kernel is missing.
_LIBRARY = _Pool(limit=1, nice=_LIBRARY_NICE)
atexit.register(_POOL.shutdown)
atexit.register(_LIBRARY.shutdown)
_EXITING = []


class Exiting(BaseException):
    """The interpreter is exiting (its workers were killed): a background compile just stops
    (not an ``Exception``: nothing falls back to compiling in process, nothing warns)."""


def exiting():
    """True once the interpreter has started its exit (the workers are being killed)."""
    return bool(_EXITING)


atexit.register(_EXITING.append, True)  # runs before the shutdown above (last in, first out)


def submit(key, src, sigs, path=None, name=None):
    """Compile ``sigs`` ({function name: [numba signature, ...]}) of the generated module
    ``src`` in a worker; returns a Future of timing info. The module file is written to the
    jitgrad cache (if not there yet) unless ``path`` (and ``name``) of an existing file are
    given. Raises OSError here when the cache directory is not writable."""
    from .backends import cache as _cache

    if path is None:
        name, path, _ = _cache.write_source(key, src)
    name = name or os.path.splitext(os.path.basename(path))[0]
    spec = _spec(sigs)
    linked = _LINKS.get(name, {})  # kernels tier 1 compiled already: step links those
    spec = {f: ss for f, ss in spec.items() if f not in linked or f == "step"}
    if not spec:
        raise ValueError("jitgrad.compile.worker.submit: no signatures to compile")
    return _POOL.submit(_Task(key, name, path, spec))


_LINKS = {}  # generated module name -> {kernel name: (kernel module name, its file)}


def link_kernels(name, kernels):
    """From now on, a worker compiling ``step`` of module ``name`` first rebinds its kernels
    to the tier-1 kernel modules' dispatchers (``kernels``: {kernel name: (module name,
    file)}): numba then loads their compiled code from disk while typing ``step`` instead of
    compiling the step module's own copies (the same source: the same code)."""
    _LINKS[name] = dict(kernels)


def submit_jobs(key, jobs, on_result=None, library=False):
    """Compile independent functions in the workers, spread over them (the kernels of a
    tier-1 step): ``jobs`` is [(module name, module file or None for an importable module,
    function, [signature])]; returns a Future of timing info (as ``submit``). ``on_result``
    is called (in a reader thread: keep it short) with (module name, function) of each job
    as it finishes. ``library``: jitgrad's own kernels missing from numba's cache (the
    library worker, ``_LIBRARY``)."""
    if not jobs:
        raise ValueError("jitgrad.compile.worker.submit_jobs: nothing to compile")
    task = _Task(key, None, None, jobs=jobs)
    task.on_result = on_result
    return (_LIBRARY if library else _POOL).submit(task)


def start():
    """Start the worker processes now (without a job), so that their imports overlap the
    eager calls before the first capture; returns their pids."""
    if not enabled():
        return []
    with _POOL.lock:
        _POOL.procs = [p for p in _POOL.procs if not p.dead]
        while len(_POOL.procs) < n_workers():
            _POOL.procs.append(_Proc(_POOL))
    return pids()


_PREWARMED = []


def prewarm(workers=True):
    """Get the slow first-use work out of the way while the first (eager) calls run: start the
    workers (``workers=True``) and, in a daemon thread, initialise numba's CPU target (its
    registries: 0.3-1.2 s on the first compile or cache load of a process, most of a warm
    start) and import the CPU backend (its kernel module: 0.15-0.45 s). Idempotent."""
    if workers:
        start()
    if _PREWARMED:
        return
    _PREWARMED.append(True)

    def work():
        try:
            from numba.core.compiler_lock import global_compiler_lock
            from numba.core.registry import cpu_target

            with global_compiler_lock:  # as a compile does: never concurrent with one
                cpu_target.target_context.refresh()
            from .backends import cpu  # noqa: F401  (and its kernels' dispatchers)
        except Exception:  # only a head start: the first compile does it otherwise
            pass

    threading.Thread(target=work, name="jitgrad-prewarm", daemon=True).start()


# ---- NumPy's BLAS threads while a compile runs ------------------------------------------
# On a small machine the eager steps that run while the worker compiles lose most of their time
# to NumPy's multi-threaded OpenBLAS: each GEMM waits until its second thread gets the core the
# worker holds (eager MLP steps 1.7x slower in the median, 3.6x in the mean, at 2 cores). So
# while a background compile is in flight, NumPy's OpenBLAS (numpy.libs: the pool eager code
# and the compiled GEMMs share; compiled calls run their serial plan meanwhile, ``blas_held``)
# runs on one thread, and the count it had is put back when the last compile in flight ends.
# Only the count of threads in use changes, not OpenBLAS's pool (lowering it leaves the pool's
# threads in place, and raising it back to their number does not create threads). Off with
# ``JITGRAD_BLAS_HOLD=0``.
_HOLD = {"n": 0, "saved": None, "lib": False}
_HOLD_LOCK = threading.Lock()


def _numpy_blas():
    """(get, set) of the thread count of the OpenBLAS NumPy calls, or None (not found). The
    library is the one ``cpu_kernels`` found for the compiled GEMMs (one owner of the pool)."""
    if _HOLD["lib"] is False:
        _HOLD["lib"] = None
        import ctypes

        from .backends import cpu_kernels as K

        nb = K.NUMPY_BLAS
        if nb is not None:
            lib = ctypes.CDLL(nb[0])
            get, set_ = getattr(lib, nb[3]), getattr(lib, nb[4])
            get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
            _HOLD["lib"] = (get, set_)
    return _HOLD["lib"]


def numpy_blas_threads():
    """The number of threads NumPy's OpenBLAS uses now (None when it was not found)."""
    from .backends import cpu_kernels as K

    return K.numpy_blas_threads()


def hold_blas():
    """NumPy's OpenBLAS on one thread until the matching ``release_blas()`` (nested holds
    count; the last release restores the count the first hold found)."""
    if os.environ.get("JITGRAD_BLAS_HOLD", "1") in ("0", ""):
        return False
    lib = _numpy_blas()
    if lib is None:
        return False
    with _HOLD_LOCK:
        if _HOLD["n"] == 0:
            n = lib[0]()
            _HOLD["saved"] = n
            if n > 1:
                lib[1](1)
        _HOLD["n"] += 1
    return True


def blas_held():
    """Whether a hold is active: compiled code that raises NumPy's BLAS threads for big GEMMs
    should stay at one thread meanwhile (the cap the thread plan respects)."""
    return _HOLD["n"] > 0


def release_blas():
    """End one ``hold_blas()``; the last one puts NumPy's thread count back, unless someone
    changed it meanwhile (theirs is kept)."""
    lib = _numpy_blas()
    with _HOLD_LOCK:
        if _HOLD["n"] == 0:
            return
        _HOLD["n"] -= 1
        if _HOLD["n"] == 0 and _HOLD["saved"] is not None:
            if _HOLD["saved"] > 1 and lib[0]() == 1:
                lib[1](_HOLD["saved"])
            _HOLD["saved"] = None


def _spec(sigs):
    """{function: [signature tuple]}, from a mapping or from one signature of ``step``."""
    if isinstance(sigs, tuple):
        sigs = {"step": [sigs]}
    return {f: [tuple(s) for s in ss] for f, ss in sigs.items() if ss}


def pids():
    """Process ids of the live workers (for tests and diagnostics)."""
    return [p.pid for pool in (_POOL, _LIBRARY) for p in _live(pool)]


def _live(pool):
    with pool.lock:
        return [p for p in pool.procs if not p.dead]


def busy():
    """{pid: seconds it has been working} of the workers compiling right now."""
    now = time.perf_counter()
    procs = _live(_POOL) + _live(_LIBRARY)
    return {p.pid: now - p.busy_since for p in procs if p.jobs and p.busy_since is not None}


def shutdown():
    """Kill every worker now (they restart lazily on the next submit)."""
    _POOL.shutdown()
    _LIBRARY.shutdown()


_WARNED = set()


def _warn_once(what, msg):
    if what not in _WARNED:
        _WARNED.add(what)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def compile_in_worker(mod, key, src, sigs, timeout=None):
    """Compile ``sigs`` of the generated module ``mod`` (loaded from the disk cache) in a
    worker and wait for it (the GIL stays free). Returns an info dict: ``worker`` (True when
    the worker compiled it: the caller's ``fn.compile(sig)`` then loads from disk),
    ``seconds`` and ``reason`` when it did not. Never raises: on any failure the caller
    compiles in process, as before; a cache write failure also turns this module's numba disk
    cache off, so the in-process compile does not hit the full disk again."""
    path = getattr(mod, "__file__", None)
    if not enabled():
        return {"worker": False, "reason": "compile workers are turned off"}
    if not path or not getattr(mod, "CACHE", False):
        # the cache directory was unwritable: the cache already warned; compile in process
        return {"worker": False, "reason": "no disk cache for this module"}
    from .backends import cache as _cache

    todo = {
        f: [s for s in ss if not _cache.has_compiled(getattr(mod, f), s)]
        for f, ss in _spec(sigs).items()
        if hasattr(mod, f)
    }
    if not any(todo.values()):
        return {"worker": False, "reason": "already compiled on disk"}
    t0 = time.perf_counter()
    try:
        fut = submit(key, src, todo, path=path, name=mod.__name__)
        info = fut.result(timeout)
    except CacheWriteError as e:
        disable_disk_cache(mod)
        _warn_once(
            "cache-write",
            f"jitgrad cache: could not write compiled code to the cache ({e.strerror or e}); "
            f"compiling {mod.__name__} in this process without the disk cache",
        )
        return {"worker": False, "reason": f"cache write failed: {e.strerror or e}"}
    except (WorkerDied, WorkerError, OSError, concurrent.futures.TimeoutError) as e:
        if _EXITING:
            raise Exiting() from None
        _warn_once(
            type(e).__name__,
            f"jitgrad: the compile worker failed ({type(e).__name__}: {str(e)[:500]}); "
            "compiling in this process instead (calls run eagerly until it is done)",
        )
        return {"worker": False, "reason": f"{type(e).__name__}: {str(e)[:200]}"}
    info = dict(info, worker=True, wait_seconds=time.perf_counter() - t0)
    return info


def patch_cpu_backend():
    """Route ``CPUExecutable.precompile`` (the async compile) through the worker.

    Until the lead adds the ``compile_in_worker`` line to ``backends/cpu.py`` (see
    notes/issue-13.md), tests and benchmarks call this to get the worker path; it does nothing
    once the backend has the line (``CPUExecutable.uses_worker``). Returns True when it patched.
    """
    from .backends import cpu

    cls = cpu.CPUExecutable
    if getattr(cls, "uses_worker", False):
        return False
    orig = cls.precompile

    def precompile(self, arrays):
        import numba
        import numpy as np

        from .backends import cache as _cache

        args = [np.ascontiguousarray(a) for a in self._args(arrays)]
        sig = tuple(numba.typeof(a) for a in args)
        sigs = kernel_signatures(self.mod, args) if n_workers() > 1 else {}
        sigs["step"] = [sig]
        self.worker_info = compile_in_worker(self.mod, self.key, self.src, sigs)
        t0 = time.perf_counter()
        orig(self, arrays)  # loads from disk when the worker compiled it
        self.worker_info["load_seconds"] = time.perf_counter() - t0
        self.cache_hit = _cache.loaded_from_disk(self.fn, sig)

    precompile.__doc__ = orig.__doc__
    cls.precompile = precompile
    cls.uses_worker = True
    cls._precompile_in_process = orig
    return True


class _Stub:
    """Stands in for a compiled function (records the argument types of its calls)."""

    def __init__(self, found, key):
        self.found, self.key = found, key

    def __call__(self, *args, **kwargs):
        import numba

        sig = tuple(numba.typeof(a) for a in args)
        if sig not in self.found.setdefault(self.key, []):
            self.found[self.key].append(sig)


class _ModStub:
    """Stands in for a kernel module (``K``, ``CK``, ``_vm``): its compiled functions record
    their calls; a threaded driver (``CK.conv2d_threads``: plain Python over the serial
    kernel's pieces, called in an object-mode block) records its serial kernel's call, since
    run for real on the stub run's garbage it scattered through garbage indices (a segfault of
    a step with ``K.PAR_MIN`` lowered); any other plain function records nothing. The rest
    (constants such as ``K.SUM``) is the module's own."""

    def __init__(self, mod, found):
        self._mod, self._found = mod, found

    def __getattr__(self, attr):
        v = getattr(self._mod, attr)
        if _is_dispatcher(v):
            return _Stub(self._found, (self._mod.__name__, attr))
        if isinstance(v, types.FunctionType):
            base = attr.removesuffix("_threads")
            if base != attr and _is_dispatcher(getattr(self._mod, base, None)):
                return _Stub(self._found, (self._mod.__name__, base))
            return _Stub({}, None)
        return v


def _is_dispatcher(v):
    return hasattr(v, "py_func") and hasattr(v, "_cache")


def step_calls(mod, args, func="step"):
    """{(module, function): [signature]} of every compiled function ``func`` calls with
    these arguments: ``(None, name)`` for the module's own kernels, ``(module name, name)``
    for jitgrad's kernel modules' functions (``K.gemm``, ``CK.conv2d_fwd``, ``_vm.exp32``).
    Found by running ``func``'s Python version with recording stubs in their place
    (milliseconds, nothing compiled; the stubs compute nothing, so values are garbage).
    Returns None when that run fails (e.g. an index check on that garbage)."""
    import numpy as np

    fn = getattr(mod, func)
    py = getattr(fn, "py_func", None)
    if py is None:
        return None
    # copies: the step writes its state in place (``in2.reshape(-1)[:] = b78``, a scalar
    # slot), and with stub kernels it would write garbage into the live parameters that the
    # eager calls running meanwhile read (a traced DDP step diverged this way at tier 1);
    # read-only arrays as they are (a copy would be writable: another numba type)
    args = [_scratch(a) for a in args]
    g = dict(py.__globals__)
    found = {}
    for name, v in list(g.items()):
        if name == func or name.startswith("__"):
            continue
        if _is_dispatcher(v):
            own = getattr(v.py_func, "__module__", None) == mod.__name__
            g[name] = _Stub(found, (None, name) if own else _home(v, name))
        elif isinstance(v, types.ModuleType) and v.__name__.startswith("jitgrad."):
            g[name] = _ModStub(v, found)
    # the object-mode fallbacks (``_py{k}`` -> ``_py_op``) run NumPy code with effects
    # (collectives of a DDP step, whose other ranks would never join this extra call): stub
    # them with zeros of the right shape and dtype, re-bound to these globals
    g["_py_op"] = _no_effects
    for name, v in list(g.items()):
        if name.startswith("_py") and isinstance(v, types.FunctionType):
            g[name] = types.FunctionType(v.__code__, g, v.__name__, v.__defaults__, v.__closure__)
    f = types.FunctionType(py.__code__, g, py.__name__, py.__defaults__, py.__closure__)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f(*args)
    except Exception:
        return None
    return found


def _scratch(a):
    """A writable array for a stub run: a copy of ``a`` (same layout), ``a`` when read-only."""
    import numpy as np

    if isinstance(a, np.ndarray) and a.flags.writeable:
        return a.copy(order="K")
    return a


def _no_effects(name, arrays, shapes, params, dtype, cshape):
    """``cpu.py_op`` for a stub run: the result's shape and dtype, nothing computed."""
    import numpy as np

    return np.zeros(cshape, dtype)


def _home(d, name):
    """(module name, attribute) under which an imported dispatcher ``d`` can be found."""
    m = d.py_func.__module__
    mod = sys.modules.get(m)
    if mod is not None and getattr(mod, name, None) is not d:
        name = next((k for k, v in vars(mod).items() if v is d), name)
    return (m, name)


def kernel_signatures(mod, args, func="step"):
    """{kernel name: [signature]} of the module's own njit kernels that ``func`` calls with
    these arguments (``step_calls``): a head start for parallel compiles; a signature numba
    would type differently (an array layout) just means the step compiles that kernel
    itself. Returns {} when it cannot run."""
    calls = step_calls(mod, args, func) or {}
    return {f: sigs for (m, f), sigs in calls.items() if m is None}


def disable_disk_cache(mod):
    """Stop numba loading/saving this module's functions on disk (after a write failure)."""
    for v in vars(mod).values():
        c = getattr(v, "_cache", None)
        if c is not None and hasattr(c, "disable") and hasattr(v, "py_func"):
            c.disable()


# ---------------------------------------------------------------- the worker side -------
def _watch_parent(ppid):
    """Exit when the training process is gone (it may have been killed without cleanup)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != ppid:
            os._exit(0)


class _FileLock:
    """An exclusive ``flock`` on ``path`` (no-op where fcntl is unavailable or it fails)."""

    def __init__(self, path):
        self.path, self.fd = path, None

    def __enter__(self):
        try:
            import fcntl

            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except (ImportError, OSError):
            if self.fd is not None:
                os.close(self.fd)
            self.fd = None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock


def _load(name, path, mods):
    mod = mods.get(name)
    if mod is None:
        import importlib.util

        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        mod.CACHE = True
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        mods[name] = mod
    return mod


def _lock_path(msg):
    """The lock file of one function: beside its generated module, or in the cache's entry
    directory for an importable module."""
    if msg["path"]:
        return f"{os.path.splitext(msg['path'])[0]}.{msg['func']}.lock"
    from .backends import cache as _cache

    root = _cache.entry_root()
    os.makedirs(root, exist_ok=True)
    return os.path.join(root, f"{msg['name']}.{msg['func']}.lock")


_READY = []  # when this worker had finished its start-up (numba imported), wall clock


LLVM_JOB = "jitgrad.compile.backends.llvm"  # a job's module: object code of llvmlite IR


def _llvm_job(msg, t0, c0, started, mods):
    """Object code of tier-1 kernels into the disk cache, lowered here (``sigs``:
    ``llvm.job``'s (key, lowering, file, target options, fallback) of each), with llvmlite
    alone. A kernel that cannot be lowered is compiled by numba instead (its fallback job:
    the parent loads it from disk when ``llvm.object_code`` finds the marker)."""
    import pickle

    from .backends import llvm

    compiled = unsupported = 0
    for _, lowering, p, opts, fallback in msg["sigs"]:
        try:
            compiled += llvm.write_object(p, lowering, opts)
        except llvm.Unsupported:
            unsupported += 1
            if fallback is None:
                continue
            name, path, func, sigs = fallback
            sub = {"id": msg["id"], "name": name, "path": path, "func": func}
            r = _job(dict(sub, sigs=pickle.loads(sigs)), mods)
            if not r["ok"]:
                return r
        except Exception as e:
            return _failed(msg, "compile", f"{type(e).__name__}: {e}")
    info = {
        "pid": os.getpid(),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "started": started,
        "worker_ready": _READY[0] if _READY else None,
        "compiled": compiled,
        "from_disk": len(msg["sigs"]) - compiled - unsupported,
        "unsupported": unsupported,
        "callees_compiled": 0,
    }
    return {"id": msg["id"], "ok": True, "info": info}


def _job(msg, mods):
    t0, c0, started = time.perf_counter(), time.process_time(), time.time()
    for k, v in msg.get("env", {}).items():  # the cache settings the parent has now
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    if msg["name"] == LLVM_JOB:
        return _llvm_job(msg, t0, c0, started, mods)
    if not _PREWARMED_CHILD:  # the first numba job: jitgrad, numba, the CPU backend
        _PREWARMED_CHILD.append(True)
        _full_package()
        _child_prewarm()
    try:
        if msg["path"]:
            mod = _load(msg["name"], msg["path"], mods)
        else:  # a library module (jitgrad's hand-written kernels, vmath)
            import importlib

            mod = importlib.import_module(msg["name"])
        fn = getattr(mod, msg["func"])
        for k, (kname, kpath) in (msg.get("links") or {}).items():
            setattr(mod, k, getattr(_load(kname, kpath, mods), k))
    except Exception as e:  # e.g. the entry was evicted meanwhile: not a cache write fault
        return _failed(msg, "compile", f"could not import {msg['path']}: {type(e).__name__}: {e}")
    try:
        others = [v for k, v in vars(mod).items() if k != msg["func"] and hasattr(v, "_cache")]
        before = sum(sum(o.stats.cache_misses.values()) for o in others)
        with _FileLock(_lock_path(msg)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for sig in msg["sigs"]:
                    fn.compile(sig)
        st = fn.stats
        hits = sum(st.cache_hits[s] for s in msg["sigs"])
        info = {
            "pid": os.getpid(),
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0,  # this worker's CPU time (load-proof)
            "started": started,  # wall clock (time.time()): for timelines
            "worker_ready": _READY[0] if _READY else None,
            "compiled": len(msg["sigs"]) - hits,
            "from_disk": hits,
            # kernels the function's compile had to compile itself (not found ready)
            "callees_compiled": sum(sum(o.stats.cache_misses.values()) for o in others) - before,
        }
        try:
            from .backends import cache as _cache

            if msg["path"]:
                _cache._touch(os.path.dirname(msg["path"]), msg["name"])
                _cache.evict(keep=mods)
        except Exception:
            pass
        return {"id": msg["id"], "ok": True, "info": info}
    except OSError as e:  # numba could not write its cache files (full disk, quota, ...)
        return _failed(msg, "cache", f"{type(e).__name__}: {e}", errno=e.errno)
    except Exception as e:
        return _failed(msg, "compile", f"{type(e).__name__}: {e}\n{traceback.format_exc()[-2000:]}")


def _failed(msg, kind, error, **extra):
    """A job's failure reply: ``kind`` "compile" (the code) or "cache" (writing its files)."""
    return {"id": msg["id"], "ok": False, "kind": kind, "error": error, **extra}


_PREWARMED_CHILD = []


def _boot():
    """The worker's ``python -c`` program: ``jitgrad`` and ``jitgrad.compile`` as bare
    packages (their ``__init__`` not run: the whole package imports scipy, numba and every
    op, 0.6 s CPU) so that ``worker`` starts with what the llvmlite jobs need; the first
    numba job imports the real packages (``_full_package``)."""
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirs = (("jitgrad", pkg), ("jitgrad.compile", os.path.join(pkg, "compile")))
    return (
        "import importlib.util as u, os, sys\n"
        f"for n, d in {dirs!r}:\n"
        "    s = u.spec_from_file_location(n, os.path.join(d, '__init__.py'),"
        " submodule_search_locations=[d])\n"
        "    m = sys.modules[n] = u.module_from_spec(s)\n"
        "    m._jitgrad_bare = True\n"
        "from jitgrad.compile.worker import _child_main\n"
        "_child_main()\n"
    )


def _full_package():
    """Replace the bare packages of the start-up (``_boot``) by the real ones (the modules
    already imported, this one among them, stay as they are)."""
    if getattr(sys.modules.get("jitgrad"), "_jitgrad_bare", False):
        for n in ("jitgrad.compile", "jitgrad"):
            sys.modules.pop(n, None)
        import jitgrad.compile  # noqa: F401

        for n, m in list(sys.modules.items()):  # the new packages' attributes for those
            parent, _, child = n.rpartition(".")
            p = sys.modules.get(parent) if n.startswith("jitgrad.") else None
            if p is not None and not hasattr(p, child):
                setattr(p, child, m)


def _child_prewarm():
    """Before the first numba job: what every numba job needs (the generated modules'
    imports, numba's CPU target: 1-1.5 s CPU at load 6). Not before the llvmlite jobs, which
    need numba's target machine only (``llvm._target``): tier 1's object code then starts
    as soon as ``import numba`` is done, and the numba jobs (tier 2's, the kernels llvm.py
    does not lower) pay for it when the first one arrives."""
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
        from .backends import cpu  # noqa: F401  (cpu_kernels, conv kernels, vmath)
    except Exception:  # only a head start
        pass


def _child_main():
    """Entry point of a worker process: read jobs from stdin, answer on the original stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed while compiling goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    try:  # _NICE in all (started by the compile thread, it inherits that thread's _NICE)
        os.nice(max(0, _NICE - os.getpriority(os.PRIO_PROCESS, 0)))
    except (AttributeError, OSError):
        pass
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:  # what the llvmlite jobs need (numba's modules are imported when a numba job's
        # signatures are unpickled, and ``_full_package`` before it runs)
        from llvmlite import binding  # noqa: F401

        from .backends import llvm  # noqa: F401
    except Exception:  # only a head start
        pass
    _READY.append(time.time())
    mods = {}
    while True:
        msg = _recv(inp)
        if msg is None:
            break
        _send(out, _job(msg, mods))
    out.flush()
    os._exit(0)
