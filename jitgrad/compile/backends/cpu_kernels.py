"""Hand-written numba kernels the generated CPU code calls (shape- and dtype-generic).

Compiled once per dtype signature and cached on disk by numba, so every traced graph reuses
them. ``*_par`` variants use ``prange`` and are chosen only for large inputs.
"""

import numba
import numpy as np
from numba import prange

_NB = dict(cache=True, error_model="numpy", fastmath={"reassoc"})


def limit_blas_threads():
    """Run the BLAS that compiled code calls (scipy's OpenBLAS, which numba's ``np.dot`` uses)
    with ``JITGRAD_BLAS_THREADS`` threads (default 1). On a small shared machine a second
    OpenBLAS pool that spin-waits next to NumPy's was measured 3-4x slower than one thread
    (PERF-NOTES section 1); big GEMMs lose at most the second core. Returns the count set, or
    None when the library could not be found (then nothing changes)."""
    import ctypes
    import os

    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library numba calls)

        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line and "scipy.libs" in line}
    except (ImportError, OSError):
        return None
    n = int(os.environ.get("JITGRAD_BLAS_THREADS", "1"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in (
            "scipy_openblas_set_num_threads",
            "openblas_set_num_threads",
            "scipy_openblas_set_num_threads64_",
            "openblas_set_num_threads64_",
        ):
            fn = getattr(lib, sym, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                return n
    return None


BLAS_THREADS = limit_blas_threads()


# (x: (A, R, B) -> out: (A, B)); accumulation in float64, NaN propagates like NumPy
# The eight reductions below differ only in init/update/prange and are written out on purpose:
# numba caches on disk only functions defined in a real source file (exec-generated ones raise
# "no locator available"), and a combine function passed as an argument would be a call in the
# innermost loop. Change all eight together.
@numba.njit(parallel=False, **_NB)
def sum3(x, out):
    A, R, B = x.shape
    if B == 1:
        for a in range(A):
            acc = 0.0
            for r in range(R):
                v = x[a, r, 0]
                acc += v
            out[a, 0] = acc
    else:
        for a in range(A):
            accs = np.full(B, 0.0)
            for r in range(R):
                for b in range(B):
                    v = x[a, r, b]
                    acc = accs[b]
                    acc += v
                    accs[b] = acc
            for b in range(B):
                acc = accs[b]
                out[a, b] = acc


@numba.njit(parallel=False, **_NB)
def prod3(x, out):
    A, R, B = x.shape
    if B == 1:
        for a in range(A):
            acc = 1.0
            for r in range(R):
                v = x[a, r, 0]
                acc *= v
            out[a, 0] = acc
    else:
        for a in range(A):
            accs = np.full(B, 1.0)
            for r in range(R):
                for b in range(B):
                    v = x[a, r, b]
                    acc = accs[b]
                    acc *= v
                    accs[b] = acc
            for b in range(B):
                acc = accs[b]
                out[a, b] = acc


@numba.njit(parallel=False, **_NB)
def max3(x, out):
    A, R, B = x.shape
    if B == 1:
        for a in range(A):
            acc = -np.inf
            for r in range(R):
                v = x[a, r, 0]
                acc = v if (v > acc or v != v) and acc == acc else acc
            out[a, 0] = acc
    else:
        for a in range(A):
            accs = np.full(B, -np.inf)
            for r in range(R):
                for b in range(B):
                    v = x[a, r, b]
                    acc = accs[b]
                    acc = v if (v > acc or v != v) and acc == acc else acc
                    accs[b] = acc
            for b in range(B):
                acc = accs[b]
                out[a, b] = acc


@numba.njit(parallel=False, **_NB)
def min3(x, out):
    A, R, B = x.shape
    if B == 1:
        for a in range(A):
            acc = np.inf
            for r in range(R):
                v = x[a, r, 0]
                acc = v if (v < acc or v != v) and acc == acc else acc
            out[a, 0] = acc
    else:
        for a in range(A):
            accs = np.full(B, np.inf)
            for r in range(R):
                for b in range(B):
                    v = x[a, r, b]
                    acc = accs[b]
                    acc = v if (v < acc or v != v) and acc == acc else acc
                    accs[b] = acc
            for b in range(B):
                acc = accs[b]
                out[a, b] = acc


@numba.njit(parallel=True, **_NB)
def sum3_par(x, out):
    A, R, B = x.shape
    if B == 1:
        for a in prange(A):
            acc = 0.0
            for r in range(R):
                v = x[a, r, 0]
                acc += v
            out[a, 0] = acc
    else:
        for a in range(A):
            accs = np.full(B, 0.0)
            for r in range(R):
                for b in range(B):
                    v = x[a, r, b]
                    acc = accs[b]
                    acc += v
                    accs[b] = acc
            for b in prange(B):
                acc = accs[b]
                out[a, b] = acc


@numba.njit(parallel=True, **_NB)
def prod3_par(x, out):
    A, R, B = x.shape
    if B == 1:
        for a in prange(A):
            acc = 1.0
            for r in range(R):
                v = x[a, r, 0]
                acc *= v
            out[a, 0] = acc
    else:
        for a in range(A):
            accs = np.full(B, 1.0)
            for r in range(R):
                for b in range(B):
                    v = x[a, r, b]
                    acc = accs[b]
                    acc *= v
                    accs[b] = acc
            for b in prange(B):
                acc = accs[b]
                out[a, b] = acc


@numba.njit(parallel=True, **_NB)
def max3_par(x, out):
    A, R, B = x.shape
    if B == 1:
        for a in prange(A):
            acc = -np.inf
            for r in range(R):
                v = x[a, r, 0]
                acc = v if (v > acc or v != v) and acc == acc else acc
            out[a, 0] = acc
    else:
        for a in range(A):
            accs = np.full(B, -np.inf)
            for r in range(R):
                for b in range(B):
                    v = x[a, r, b]
                    acc = accs[b]
                    acc = v if (v > acc or v != v) and acc == acc else acc
                    accs[b] = acc
            for b in prange(B):
                acc = accs[b]
                out[a, b] = acc


@numba.njit(parallel=True, **_NB)
def min3_par(x, out):
    A, R, B = x.shape
    if B == 1:
        for a in prange(A):
            acc = np.inf
            for r in range(R):
                v = x[a, r, 0]
                acc = v if (v < acc or v != v) and acc == acc else acc
            out[a, 0] = acc
    else:
        for a in range(A):
            accs = np.full(B, np.inf)
            for r in range(R):
                for b in range(B):
                    v = x[a, r, b]
                    acc = accs[b]
                    acc = v if (v < acc or v != v) and acc == acc else acc
                    accs[b] = acc
            for b in prange(B):
                acc = accs[b]
                out[a, b] = acc


@numba.njit(**_NB)
def gather3(x, idx, out):
    """out[a, i, b] = x[a, idx[a, i, b], b]; indices must be in [0, N) like torch's gather."""
    A, N, B = x.shape
    I = idx.shape[1]
    for a in range(A):
        for i in range(I):
            for b in range(B):
                j = idx[a, i, b]
                if j < 0 or j >= N:
                    raise IndexError("gather: index out of bounds for the gathered dimension")
                out[a, i, b] = x[a, j, b]


@numba.njit(**_NB)
def scatter_add3(out, idx, src):
    """out[a, idx[a, i, b], b] += src[a, i, b] (out already holds the base)."""
    A, N, B = out.shape
    I = idx.shape[1]
    for a in range(A):
        for i in range(I):
            for b in range(B):
                j = idx[a, i, b]
                if j < 0 or j >= N:
                    raise IndexError("scatter_add: index out of bounds for the scattered dimension")
                out[a, j, b] += src[a, i, b]


@numba.njit(**_NB)
def take3(x, idx, out):
    """out[a, i, b] = x[a, idx[i], b]: one integer index array along a dimension."""
    A, N, B = x.shape
    I = idx.shape[0]
    for a in range(A):
        for i in range(I):
            j = idx[i]
            if j < 0:
                j += N
            if j < 0 or j >= N:
                raise IndexError("index: index out of bounds for the indexed dimension")
            for b in range(B):
                out[a, i, b] = x[a, j, b]


@numba.njit(**_NB)
def put_add3(out, idx, g):
    """out[a, idx[i], b] += g[a, i, b] (the gradient of ``take3``)."""
    A, N, B = out.shape
    I = idx.shape[0]
    for a in range(A):
        for i in range(I):
            j = idx[i]
            if j < 0:
                j += N
            if j < 0 or j >= N:
                raise IndexError("index: index out of bounds for the indexed dimension")
            for b in range(B):
                out[a, j, b] += g[a, i, b]


@numba.njit(**_NB)
def check_range(idx, n, what):
    for j in idx.ravel():
        if j < -n or j >= n:
            raise IndexError(what)


@numba.njit(**_NB)
def bmm(a, b, out):
    for i in range(a.shape[0]):
        out[i] = np.dot(np.ascontiguousarray(a[i]), np.ascontiguousarray(b[i]))
