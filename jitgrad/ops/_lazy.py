"""An eager op's numba kernel, without waiting for numba: the first use after an install.

jitgrad's own kernels (``_conv_kernels``: convolution, pooling, padding) are compiled on
first use and cached on disk beside the package (numba's cache). On a fresh install that
cache is empty, and the first eager call of ``conv2d`` compiled its kernel in the calling
thread: ~25 s for one dtype, ~35 s before a small CNN's first training step returned.

``ready(op, fn, args)`` says whether the caller may call kernel ``fn`` (a numba dispatcher)
with ``args`` now. It is True when the code for these argument types is in memory or on
disk (the call then loads it: milliseconds). Otherwise, in the default async mode, the
compile worker (``compile/worker.py``, a process of its own) compiles it into the disk
cache, and ``ready`` says False until it is there: the caller runs the op's NumPy
implementation meanwhile (the oracle the kernels are tested against; slower, so a warning
says so, once). With ``JITGRAD_ASYNC_COMPILE=0``, with the worker off
(``JITGRAD_COMPILE_WORKERS=0``), inside a worker, and when the worker fails, the call
compiles in this process as before. The check costs a dict lookup per call once settled.
"""

import os
import sys
import threading
import warnings

import numpy as np

_STATE = {}  # (id(fn), argument type key) -> True (call it) | Future (compiling elsewhere)
_LOCK = threading.Lock()
_WARNED = set()


def _type_key(args):
    return tuple(
        (a.dtype.num, a.ndim, a.flags.writeable) if isinstance(a, np.ndarray) else type(a)
        for a in args
    )


def background():
    """True when kernels not compiled yet go to the compile worker (the async mode)."""
    if os.environ.get("JITGRAD_ASYNC_COMPILE", "1") in ("0", ""):
        return False
    from ..compile import worker

    return worker.enabled()


def ready(op, fn, args):
    """True when ``fn(*args)`` may run now (compiled, on disk, or to compile here)."""
    key = (id(fn), _type_key(args))
    st = _STATE.get(key)
    if st is True:
        return True
    with _LOCK:
        st = _STATE.get(key)
        if st is None:
            st = _STATE[key] = _start(op, fn, args)
        if st is True:
            return True
        if not st.done():
            return False
        try:
            st.result()
        except Exception as e:  # the worker could not: compile here (the call does)
            _warn(
                ("failed", op),
                f"{op}: the compile worker could not compile its kernel "
                f"({type(e).__name__}: {str(e)[:200]}); compiling it in this process",
            )
        _STATE[key] = True
        return True


def _start(op, fn, args):
    if not background():
        return True
    import numba

    from ..compile import worker
    from ..compile.backends import cache

    sig = tuple(numba.typeof(a) for a in args)
    if getattr(getattr(fn, "_cache", None), "_cache_file", None) is None:
        return True  # no disk cache for it: the worker's code could not reach this process
    if sig in fn.overloads or cache.has_compiled(fn, sig):
        return True
    py = fn.py_func
    try:
        job = [(py.__module__, None, py.__name__, [sig])]
        fut = worker.submit_jobs("eager-kernels", job, library=True)
    except Exception:  # no worker could start: compile here
        return True
    dtypes = "/".join(sorted({a.dtype.name for a in args if isinstance(a, np.ndarray)}))
    _warn(
        ("compiling",),
        f"{op}: jitgrad's compiled kernel for {dtypes} is not in numba's cache yet (the first "
        "use after an install); the compile worker compiles it in the background (up to a "
        "minute) and the slower NumPy implementation runs until it is ready. "
        "JITGRAD_ASYNC_COMPILE=0 compiles it in the calling thread instead",
    )
    return fut


_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _warn(key, msg):
    """Warn once, at the first frame outside jitgrad (the user's line that ran the op)."""
    if key in _WARNED:
        return
    _WARNED.add(key)
    level, f = 1, sys._getframe(0)
    while f is not None and f.f_code.co_filename.startswith(_PKG + os.sep):
        level, f = level + 1, f.f_back
    warnings.warn(msg, RuntimeWarning, stacklevel=level)


def pending():
    """The kernels still compiling in the worker (for tests and ``wait``)."""
    with _LOCK:
        return [st for st in _STATE.values() if st is not True and not st.done()]


def wait(timeout=None):
    """Block until the kernels compiling in the background are on disk (True), or the
    timeout passes (False)."""
    import concurrent.futures

    futs = pending()
    if not futs:
        return True
    done, rest = concurrent.futures.wait(futs, timeout=timeout)
    return not rest
