"""Hand-written numba kernels the generated CPU code calls (shape- and dtype-generic).

Compiled once per dtype signature and cached on disk by numba, so every traced graph reuses
them. ``*_par`` variants take a ``prange`` branch at run time from a threshold the generated
code passes (``calibrate.par_threshold``) and give the same results as the serial ones.
"""

import numba
import numpy as np
from numba import prange
from numba.core import types
from numba.extending import intrinsic

_NB = dict(cache=True, error_model="numpy", fastmath={"reassoc"})


@intrinsic
def wide_vectors(typingctx):
    """(Compiled code only.) LLVM may use 512-bit vectors in the calling function: on AVX-512
    CPUs it otherwise prefers 256-bit ones (``prefer-vector-width``), and a loop of inlined
    vmath calls is compute-bound: the GELU-tanh chain's fused loop ran 6.75-8.3 -> 5.6-5.8 ms
    per 2**20 elements on one thread with it (same bits; its float64 partial sums in another
    order). No effect where the CPU has no 512-bit vectors. An intrinsic, not an overload:
    an overload's body is a function of its own, which would get the attribute instead."""

    def codegen(context, builder, sig, args):
        # a string attribute llvmlite's FunctionAttributes does not list: added to the set as
        # is, printed as is in the function's definition
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


def _find_blas():
    """(library path, ``set_num_threads`` symbol) of the OpenBLAS that numba's ``np.dot``
    calls (scipy's), or (None, None)."""
    import ctypes

    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library numba calls)

        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line and "scipy.libs" in line}
    except (ImportError, OSError):
        return None, None
    for path in sorted(libs):
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
            if getattr(lib, sym, None) is not None:
                return path, sym
    return None, None


_BLAS_LIB, _BLAS_SET = _find_blas()
if _BLAS_SET is not None:
    import llvmlite.binding as _llb

    _llb.load_library_permanently(_BLAS_LIB)  # the symbol resolves in (cached) compiled code
    _set_blas_threads = numba.types.ExternalFunction(_BLAS_SET, numba.types.void(numba.types.intc))
else:

    @numba.njit(**_NB)
    def _set_blas_threads(n):  # no OpenBLAS found: its thread count is left alone
        pass


def limit_blas_threads():
    """Give the BLAS that compiled code calls (scipy's OpenBLAS) ``JITGRAD_BLAS_THREADS``
    threads (default 1) for the whole process; ``dot`` raises the count only around the GEMMs
    that pay for threads (``calibrate.blas_plan``). A second OpenBLAS pool spinning next to
    NumPy's was measured 3-4x slower than one thread on a small machine (PERF-NOTES section
    1), 3-7x under load. Returns the count set, or None when the library was not found."""
    import ctypes
    import os

    if _BLAS_SET is None:
        return None
    n = int(os.environ.get("JITGRAD_BLAS_THREADS", "1"))
    getattr(ctypes.CDLL(_BLAS_LIB), _BLAS_SET)(ctypes.c_int(n))
    return n


BLAS_THREADS = limit_blas_threads()


def _find_numpy_blas():
    """(library path, sgemm, dgemm, get_num_threads, set_num_threads symbols) of NumPy's own
    OpenBLAS (the ILP64 ``scipy_openblas64_`` build NumPy wheels bundle), or None."""
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line and "numpy.libs" in line}
    except OSError:
        return None
    for path in sorted(libs):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pre, suf in (("scipy_", "64_"), ("", "64_")):
            syms = (
                f"{pre}cblas_sgemm{suf}",
                f"{pre}cblas_dgemm{suf}",
                f"{pre}openblas_get_num_threads{suf}",
                f"{pre}openblas_set_num_threads{suf}",
            )
            if all(getattr(lib, s, None) is not None for s in syms):
                return (path,) + syms
    return None


# Compiled GEMMs call NumPy's own OpenBLAS (cblas_?gemm through its ILP64 interface), the
# library and thread pool that eager jitgrad and user NumPy code use: one pool in the
# process. numba's ``np.dot`` calls scipy's OpenBLAS, a second pool whose idle workers spin
# for ~0.1 s after each threaded call, on the same cores as NumPy's (the two fought on 2
# cores). Where NumPy's library is not found (another BLAS), ``dot`` below is used instead.
NUMPY_BLAS = _find_numpy_blas()
if NUMPY_BLAS is not None:
    import llvmlite.binding as _llb

    _llb.load_library_permanently(NUMPY_BLAS[0])
    _i64, _ptr = numba.types.int64, numba.types.uintp

    def _gemm_sig(ft):
        # order, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc
        return numba.types.void(
            numba.types.intc, numba.types.intc, numba.types.intc, _i64, _i64, _i64,
            ft, _ptr, _i64, _ptr, _i64, ft, _ptr, _i64,
        )  # fmt: skip

    _sgemm = numba.types.ExternalFunction(NUMPY_BLAS[1], _gemm_sig(numba.types.float32))
    _dgemm = numba.types.ExternalFunction(NUMPY_BLAS[2], _gemm_sig(numba.types.float64))
    _np_get_threads = numba.types.ExternalFunction(NUMPY_BLAS[3], numba.types.intc())
    _np_set_threads = numba.types.ExternalFunction(
        NUMPY_BLAS[4], numba.types.void(numba.types.intc)
    )
else:

    @numba.njit(**_NB)
    def _sgemm(*args):
        raise RuntimeError("NumPy's OpenBLAS was not found: generated code calls K.dot")

    _dgemm = _sgemm

    @numba.njit(**_NB)
    def _np_get_threads():
        return 1

    @numba.njit(**_NB)
    def _np_set_threads(n):
        pass


_ROW, _NOTRANS, _TRANS = 101, 111, 112  # CblasRowMajor, CblasNoTrans, CblasTrans


@numba.njit(**_NB)
def _operand(x):
    """(x or a contiguous copy, cblas transpose flag, leading dimension) of a 2-D operand
    in row-major terms: C-contiguous as is, F-contiguous as the transpose of a C array."""
    if x.strides[1] == x.itemsize and x.strides[0] >= max(1, x.shape[1]) * x.itemsize:
        return x, _NOTRANS, max(1, x.strides[0] // x.itemsize)
    if x.strides[0] == x.itemsize and x.strides[1] >= max(1, x.shape[0]) * x.itemsize:
        return x, _TRANS, max(1, x.strides[1] // x.itemsize)
    c = np.ascontiguousarray(x)
    return c, _NOTRANS, max(1, x.shape[1])


# A product with a transposed right operand (``x @ W.T``, W C-contiguous: a Linear layer's
# forward) and few rows runs 1.3-1.9x slower in OpenBLAS than the same product with the
# operands' roles swapped (``(W @ x.T).T``: OpenBLAS packs the big operand the cheap way):
# measured on one thread, (32, 784) @ (784, 256) 209 vs 139 us including the transposing
# copy, (32, 256) @ (256, 256) 74 vs 53 us; from m = 128 the copy makes it slower (float64:
# no gain but at m = 16). So a float32 GEMM of up to SWAP_M rows and from SWAP_N columns
# computes the transposed product into a scratch array and copies it over.
SWAP_M = 32
SWAP_N = 64
_FLIP = _NOTRANS + _TRANS  # _FLIP - flag: the cblas transpose flag of the transposed operand


@numba.njit(**_NB)
def _blas(ta, tb, m, n, k, x, lda, y, ldb, c, ldc):
    if c.itemsize == 4:  # float32 (float64 otherwise: the only dtypes lowered to BLAS)
        _sgemm(_ROW, ta, tb, m, n, k, np.float32(1.0), x.ctypes.data, lda, y.ctypes.data, ldb,
               np.float32(0.0), c.ctypes.data, ldc)  # fmt: skip
    else:
        _dgemm(_ROW, ta, tb, m, n, k, 1.0, x.ctypes.data, lda, y.ctypes.data, ldb, 0.0,
               c.ctypes.data, ldc)  # fmt: skip


@numba.njit(**_NB)
def gemm(a, b, out, mnk_min, threads):
    """``out[...] = a @ b`` (2-D, float32/float64, ``out`` C-contiguous) through NumPy's
    OpenBLAS. GEMMs below ``mnk_min`` (m*n*k) run on one thread, the others on ``threads``
    (0: the pool's own count, NumPy's); the pool's count is put back after. A float32
    product with a transposed ``b`` and few rows (``SWAP_M``) is computed as ``(b.T @ a.T).T``."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        out[:] = 0
        return
    x, ta, lda = _operand(a)
    y, tb, ldb = _operand(b)
    want = 1 if m * n * k < mnk_min else threads
    prev = 0
    if want > 0:
        prev = _np_get_threads()
        if prev != want:
            _np_set_threads(want)
    if out.itemsize == 4 and tb == _TRANS and m <= SWAP_M and n >= SWAP_N:
        tmp = np.empty((n, m), out.dtype)
        _blas(_FLIP - tb, _FLIP - ta, n, m, k, y, ldb, x, lda, tmp, m)
        for i in range(m):
            for j in range(n):
                out[i, j] = tmp[j, i]
    else:
        _blas(ta, tb, m, n, k, x, lda, y, ldb, out, max(1, out.strides[0] // out.itemsize))
    if prev > 0 and prev != want:
        _np_set_threads(prev)


def numpy_blas_threads():
    """The thread count of NumPy's OpenBLAS pool right now (None where not found)."""
    import ctypes

    if NUMPY_BLAS is None:
        return None
    return int(getattr(ctypes.CDLL(NUMPY_BLAS[0]), NUMPY_BLAS[3])())


@numba.njit(**_NB)
def dot(a, b, out, mnk_min, threads):
    """``np.dot(a, b, out)`` of 2-D arrays, on ``threads`` BLAS threads when m*n*k reaches
    ``mnk_min`` (numba's own threads sleep meanwhile: no oversubscription), else on one."""
    if threads > 1 and a.shape[0] * a.shape[1] * b.shape[1] >= mnk_min:
        _set_blas_threads(threads)
        np.dot(a, b, out)
        _set_blas_threads(1)
    else:
        np.dot(a, b, out)


# ---- reductions: x (A, R, B) -> out (A, B), accumulated in float64, NaN propagates like NumPy
# The work is cut into tasks whose shape depends only on the input shape: a row (B == 1) in
# chunks of CHUNK elements whose partials are combined in order, or COLS columns of a row
# block (B > 1) summed over r in order. The serial and the parallel kernels run the same tasks
# (``range`` or ``prange`` over them), so results are the same bits run to run, whatever the
# thread count, and the same as the serial path's. Each reduction's inner loops are written
# out (a combine function passed as an argument would be a call in the innermost loop, and
# numba caches on disk only functions defined in a real source file): change all four together.
CHUNK = 4096
COLS = 64
SUM, PROD, MAX, MIN = 0, 1, 2, 3


@numba.njit(**_NB)
def _init(op):
    if op == SUM:
        return 0.0
    if op == PROD:
        return 1.0
    return -np.inf if op == MAX else np.inf


@numba.njit(**_NB)
def _update(op, acc, v):
    if op == SUM:
        return acc + v
    if op == PROD:
        return acc * v
    if op == MAX:
        return v if (v > acc or v != v) and acc == acc else acc
    return v if (v < acc or v != v) and acc == acc else acc


# Each ``_<op>_tasks(x, out, part, nt, t0, t1)`` runs tasks t0..t1 in one call: a call per
# task (refcounts of three arrays, no inlining) cost ~140 ns, 25x the work of a 10-element
# row (the MLP's softmax rows). A column block sums whole row slices (``x[a, r, lo:hi]``),
# which LLVM vectorises (3.3x faster than indexing x[a, r, b] element by element).
@numba.njit(**_NB)
def _bounds(x, part, nt, t):
    a = t // nt
    k = t - a * nt
    if part.shape[1] > 0:
        return a, k * CHUNK, min(x.shape[1], (k + 1) * CHUNK)
    return a, k * COLS, min(x.shape[2], (k + 1) * COLS)


@numba.njit(**_NB)
def _sum_tasks(x, out, part, nt, t0, t1):
    for t in range(t0, t1):
        a, lo, hi = _bounds(x, part, nt, t)
        if part.shape[1] > 0:  # a chunk of a row
            acc = 0.0
            for r in range(lo, hi):
                acc += x[a, r, 0]
            part[a, lo // CHUNK] = acc
        else:  # columns lo:hi of row block a
            accs = np.zeros(hi - lo)
            for r in range(x.shape[1]):
                row = x[a, r, lo:hi]
                for b in range(hi - lo):
                    accs[b] += row[b]
            for b in range(hi - lo):
                out[a, lo + b] = accs[b]


@numba.njit(**_NB)
def _prod_tasks(x, out, part, nt, t0, t1):
    for t in range(t0, t1):
        a, lo, hi = _bounds(x, part, nt, t)
        if part.shape[1] > 0:
            acc = 1.0
            for r in range(lo, hi):
                acc *= x[a, r, 0]
            part[a, lo // CHUNK] = acc
        else:
            accs = np.ones(hi - lo)
            for r in range(x.shape[1]):
                row = x[a, r, lo:hi]
                for b in range(hi - lo):
                    accs[b] *= row[b]
            for b in range(hi - lo):
                out[a, lo + b] = accs[b]


@numba.njit(**_NB)
def _max_tasks(x, out, part, nt, t0, t1):
    for t in range(t0, t1):
        a, lo, hi = _bounds(x, part, nt, t)
        if part.shape[1] > 0:
            acc = -np.inf
            for r in range(lo, hi):
                v = x[a, r, 0]
                acc = v if (v > acc or v != v) and acc == acc else acc
            part[a, lo // CHUNK] = acc
        else:
            accs = np.full(hi - lo, -np.inf)
            for r in range(x.shape[1]):
                row = x[a, r, lo:hi]
                for b in range(hi - lo):
                    v = row[b]
                    acc = accs[b]
                    accs[b] = v if (v > acc or v != v) and acc == acc else acc
            for b in range(hi - lo):
                out[a, lo + b] = accs[b]


@numba.njit(**_NB)
def _min_tasks(x, out, part, nt, t0, t1):
    for t in range(t0, t1):
        a, lo, hi = _bounds(x, part, nt, t)
        if part.shape[1] > 0:
            acc = np.inf
            for r in range(lo, hi):
                v = x[a, r, 0]
                acc = v if (v < acc or v != v) and acc == acc else acc
            part[a, lo // CHUNK] = acc
        else:
            accs = np.full(hi - lo, np.inf)
            for r in range(x.shape[1]):
                row = x[a, r, lo:hi]
                for b in range(hi - lo):
                    v = row[b]
                    acc = accs[b]
                    accs[b] = v if (v < acc or v != v) and acc == acc else acc
            for b in range(hi - lo):
                out[a, lo + b] = accs[b]


@numba.njit(**_NB)
def _plan(x):
    """(tasks per row block, partials): a row's chunks (B == 1) or column blocks (B > 1)."""
    A, R, B = x.shape
    if B == 1:
        nc = max(1, (R + CHUNK - 1) // CHUNK)
        return nc, np.empty((A, nc))
    return (B + COLS - 1) // COLS, np.empty((A, 0))


@numba.njit(**_NB)
def combine(op, part, out):
    """out[a, 0] = op over the partials part[a, :] in order (also a fused loop's sum)."""
    for a in range(part.shape[0]):
        acc = _init(op)
        for c in range(part.shape[1]):
            acc = _update(op, acc, part[a, c])
        out[a, 0] = acc


@numba.njit(**_NB)
def _finish(op, part, out):
    if part.shape[1] > 0:  # a row's chunks: their partials in order
        combine(op, part, out)


_BLOCKS = 32  # task blocks of a parallel reduction (a few per thread, for balance)


@numba.njit(**_NB)
def _blocks(x, par_n):
    """(tasks per row block, partials, tasks, task blocks) of a parallel reduction; 0 blocks:
    run it serially (below ``par_n`` elements, or a single task)."""
    nt, part = _plan(x)
    n = x.shape[0] * nt
    nb = 0 if x.size < par_n or n < 2 else min(n, _BLOCKS)
    return nt, part, n, nb


# One serial and one parallel entry point per op (``sum3``/``sum3_par``, ``prod3``, ``max3``,
# ``min3``): an ``op`` argument would compile all four ops' loops into every caller (a
# reduction's first compile 4.4 s instead of ~1 s, most of a fresh install's first MLP step).
# out[a, b] = op over r of x[a, r, b]; the ``_par`` one splits the tasks over a ``prange``
# from ``par_n`` elements, with the same results (the tasks, not the blocks, decide them).
@numba.njit(**_NB)
def sum3(x, out):
    nt, part = _plan(x)
    _sum_tasks(x, out, part, nt, 0, x.shape[0] * nt)
    _finish(SUM, part, out)


@numba.njit(parallel=True, **_NB)
def sum3_par(x, out, par_n):
    nt, part, n, nb = _blocks(x, par_n)
    for i in prange(nb):
        _sum_tasks(x, out, part, nt, i * n // nb, (i + 1) * n // nb)
    if nb == 0:
        _sum_tasks(x, out, part, nt, 0, n)
    _finish(SUM, part, out)


@numba.njit(**_NB)
def prod3(x, out):
    nt, part = _plan(x)
    _prod_tasks(x, out, part, nt, 0, x.shape[0] * nt)
    _finish(PROD, part, out)


@numba.njit(parallel=True, **_NB)
def prod3_par(x, out, par_n):
    nt, part, n, nb = _blocks(x, par_n)
    for i in prange(nb):
        _prod_tasks(x, out, part, nt, i * n // nb, (i + 1) * n // nb)
    if nb == 0:
        _prod_tasks(x, out, part, nt, 0, n)
    _finish(PROD, part, out)


@numba.njit(**_NB)
def max3(x, out):
    nt, part = _plan(x)
    _max_tasks(x, out, part, nt, 0, x.shape[0] * nt)
    _finish(MAX, part, out)


@numba.njit(parallel=True, **_NB)
def max3_par(x, out, par_n):
    nt, part, n, nb = _blocks(x, par_n)
    for i in prange(nb):
        _max_tasks(x, out, part, nt, i * n // nb, (i + 1) * n // nb)
    if nb == 0:
        _max_tasks(x, out, part, nt, 0, n)
    _finish(MAX, part, out)


@numba.njit(**_NB)
def min3(x, out):
    nt, part = _plan(x)
    _min_tasks(x, out, part, nt, 0, x.shape[0] * nt)
    _finish(MIN, part, out)


@numba.njit(parallel=True, **_NB)
def min3_par(x, out, par_n):
    nt, part, n, nb = _blocks(x, par_n)
    for i in prange(nb):
        _min_tasks(x, out, part, nt, i * n // nb, (i + 1) * n // nb)
    if nb == 0:
        _min_tasks(x, out, part, nt, 0, n)
    _finish(MIN, part, out)


REDUCE3 = {SUM: (sum3, sum3_par), PROD: (prod3, prod3_par), MAX: (max3, max3_par)}
REDUCE3[MIN] = (min3, min3_par)  # op -> (serial, parallel) entry points


@numba.njit(**_NB)
def arg3(is_max, x, out):
    """out[a, b] = the index r of the first maximum (``is_max``) or minimum of x[a, r, b]; the
    first NaN wins, as in torch and NumPy."""
    A, R, B = x.shape
    for a in range(A):
        for b in range(B):
            k = 0
            best = x[a, 0, b]
            if best == best:
                for r in range(1, R):
                    v = x[a, r, b]
                    if v != v:
                        k = r
                        break
                    if (v > best) if is_max else (v < best):
                        best = v
                        k = r
            out[a, b] = k


@numba.njit(**_NB)
def anyall3(is_any, x, out):
    """out[a, b] = any (``is_any``) or all of x[a, r, b] != 0 over r (NaN counts as true)."""
    A, R, B = x.shape
    for a in range(A):
        for b in range(B):
            res = not is_any
            for r in range(R):
                if (x[a, r, b] != 0) == is_any:
                    res = is_any
                    break
            out[a, b] = res


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


# ---- NumPy stand-ins: the functions above as NumPy code, same arguments and effects --------
# A tier-1 step (compile/tiers.py) runs these while numba compiles the kernels above for the
# first time on an install (their disk cache beside the package is empty: ~5 s of the MLP
# step's first compile, numba's start included); the compiled kernels are swapped in when
# loaded. Their results are NumPy's (eager mode's): the same values up to rounding, not the
# same bits (a reduction's order, OpenBLAS's kernel choice); the errors are the kernels'.
def _np_gemm(a, b, out, mnk_min, threads):
    np.matmul(a, b, out=out)


def _np_reduce(ufunc, init):
    def reduce3(x, out, par_n=0):
        if x.shape[1] == 0:
            out[...] = init
        elif ufunc is np.add or ufunc is np.multiply:
            out[...] = ufunc.reduce(x, axis=1, dtype=np.float64)
        else:  # max/min propagate NaN like the kernels (np.maximum does)
            out[...] = ufunc.reduce(x, axis=1)

    return reduce3


_NP_OPS = {SUM: (np.add, 0.0), PROD: (np.multiply, 1.0), MAX: (np.maximum, -np.inf)}
_NP_OPS[MIN] = (np.minimum, np.inf)


def _np_combine(op, part, out):
    _np_reduce(*_NP_OPS[op])(part.reshape(part.shape[0], part.shape[1], 1), out[:, :1])


def _np_arg3(is_max, x, out):
    out[...] = (np.argmax if is_max else np.argmin)(x, axis=1)  # the first NaN wins there too


def _np_anyall3(is_any, x, out):
    out[...] = (np.any if is_any else np.all)(x != 0, axis=1)


def _np_check(idx, n, what, wrap):
    if idx.size and (idx.min() < (-n if wrap else 0) or idx.max() >= n):
        raise IndexError(what)


def _np_gather3(x, idx, out):
    _np_check(idx, x.shape[1], "gather: index out of bounds for the gathered dimension", False)
    out[...] = np.take_along_axis(x, idx, axis=1)


def _np_scatter_add3(out, idx, src):
    msg = "scatter_add: index out of bounds for the scattered dimension"
    _np_check(idx, out.shape[1], msg, False)
    a, _, b = np.ogrid[: idx.shape[0], : idx.shape[1], : idx.shape[2]]
    np.add.at(out, (a, idx, b), src)


def _np_take3(x, idx, out):
    _np_check(idx, x.shape[1], "index: index out of bounds for the indexed dimension", True)
    out[...] = x[:, idx, :]


def _np_put_add3(out, idx, g):
    _np_check(idx, out.shape[1], "index: index out of bounds for the indexed dimension", True)
    np.add.at(out, (slice(None), idx % max(1, out.shape[1]), slice(None)), g)


def _np_check_range(idx, n, what):
    _np_check(idx, n, what, True)


def _np_bmm(a, b, out):
    np.matmul(a, b, out=out)


STANDINS = {  # kernel name -> its NumPy stand-in
    "gemm": _np_gemm,
    "dot": _np_gemm,
    "combine": _np_combine,
    "arg3": _np_arg3,
    "anyall3": _np_anyall3,
    "gather3": _np_gather3,
    "scatter_add3": _np_scatter_add3,
    "take3": _np_take3,
    "put_add3": _np_put_add3,
    "check_range": _np_check_range,
    "bmm": _np_bmm,
}
for _op, _name in ((SUM, "sum"), (PROD, "prod"), (MAX, "max"), (MIN, "min")):
    STANDINS[f"{_name}3"] = STANDINS[f"{_name}3_par"] = _np_reduce(*_NP_OPS[_op])
