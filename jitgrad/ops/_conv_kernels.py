"""numba kernels for convolution and max pooling (NCHW), shared by eager mode and compiled steps.

Every kernel is ``@njit(cache=True)`` with plain array arguments and writes into an output
buffer its caller allocates (``np.empty`` is enough: kernels that accumulate zero it first),
so the same function is called from the ops' implementations (eager, and the objmode path of
compiled steps) and directly from generated numba code. Static parameters are plain ints:
``sh, sw`` stride, ``pt, pl`` top/left padding (bottom/right padding is implied by the
output size), ``dh, dw`` dilation, ``groups``. Inputs must be C-contiguous float32/float64.
``conv2d`` is one kernel for the three convolution products (a ``mode`` argument: one
compile per dtype). The kernels are serial; ``conv2d_threads``, ``max_pool2d_values_threads``
and ``max_pool2d_backward_threads`` run the same pieces on threads (see "threads"
below). The GEMMs run on one BLAS thread each.

Convolution is im2col + BLAS (``np.dot``) over tiles of output positions, so the column
buffer (K = C/groups * kh * kw rows, T columns) stays near ``TILE_BYTES``; a tile spans
several whole images when one image is small (late ResNet stages: better GEMM shapes) or a
band of output rows of one image when it is large. A convolution with one input channel
per group and either several groups (depthwise) or one output channel (avg pooling's ones
kernel over N*C planes) takes a direct loop nest instead: there each GEMM would be a
matrix-vector product. A single-channel input with many filters (MNIST's first layer)
stays on the GEMM path, which measured faster.

Stride-1 convolutions with several input channels compute each output row over the
padded width ("wide rows", ``_use_wide``): im2col is then one contiguous copy per tap and
image instead of a loop per output row. ``constant_pad`` is the pad kernel (any dtype).

The NumPy implementations in ``ops/conv.py`` are the oracle these are tested against.
"""

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

TILE_BYTES = 256 * 1024  # column buffer per tile: fits the L2 cache with room to spare
MIN_COLS = 256  # but never fewer GEMM columns than this: a big weight is re-read per tile

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
# per-output helpers: a real call per output element costs more than the work inside it
_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")


# ---------------------------------------------------------------- shared helpers ----------
@_jit
def _valid(n_out, n_in, stride, offset):
    """[lo, hi) of output positions q whose input q * stride + offset lies in [0, n_in)."""
    lo = 0
    if offset < 0:
        lo = (-offset + stride - 1) // stride
    hi = 0
    if n_in - 1 - offset >= 0:
        hi = (n_in - 1 - offset) // stride + 1
    if hi > n_out:
        hi = n_out
    if lo > hi:
        lo = hi
    return lo, hi


@_jit
def _col_bounds(kw, wo, wd, sw, dw, pl):
    """Per kernel column j: the [lo, hi) of output columns that read inside the input."""
    lo = np.empty(kw, np.int64)
    hi = np.empty(kw, np.int64)
    for j in range(kw):
        lo[j], hi[j] = _valid(wo, wd, sw, j * dw - pl)
    return lo, hi


@_jit
def _tiling(n, ho, wo, k, itemsize):
    """(images per tile, output rows per tile) so a K x T column buffer is ~TILE_BYTES."""
    per_row = max(1, k * wo * itemsize)
    rows = max(1, TILE_BYTES // per_row, -(-MIN_COLS // wo))
    if rows >= ho:
        return max(1, min(n, rows // ho)), ho
    return 1, rows


@_jit
def _cols(x, cols, b0, nb, r0, nr, c0, cg, kh, kw, sh, sw, pt, pl, dh, dw, wo, adjoint):
    """im2col: cols[(c*kh+i)*kw+j, (b*nr+r)*wo+q] = x[b0+b, c0+c, (r0+r)*sh+i*dh-pt,
    q*sw+j*dw-pl] (0 where that is padding); ``adjoint`` (col2im): x[...] += cols[...]
    instead, positions in the padding dropped."""
    h = x.shape[2]
    wd = x.shape[3]
    for c in range(cg):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                lo, hi = _valid(wo, wd, sw, j * dw - pl)
                off = j * dw - pl
                for b in range(nb):
                    for r in range(nr):
                        base = (b * nr + r) * wo
                        hh = (r0 + r) * sh + i * dh - pt
                        inside = hh >= 0 and hh < h
                        if adjoint:
                            if inside:
                                for q in range(lo, hi):
                                    x[b0 + b, c0 + c, hh, q * sw + off] += cols[row, base + q]
                            continue
                        if not inside:
                            for q in range(wo):
                                cols[row, base + q] = 0
                            continue
                        for q in range(lo):
                            cols[row, base + q] = 0
                        for q in range(lo, hi):
                            cols[row, base + q] = x[b0 + b, c0 + c, hh, q * sw + off]
                        for q in range(hi, wo):
                            cols[row, base + q] = 0


@_jit
def _out_tile(g, gt, b0, nb, r0, nr, o0, og, wo, scatter):
    """gt[o, (b*nr+r)*wo+q] = g[b0+b, o0+o, r0+r, q] (a tile of an output-shaped array as
    GEMM columns); ``scatter``: the inverse, g[...] = gt[...]."""
    for o in range(og):
        for b in range(nb):
            for r in range(nr):
                base = (b * nr + r) * wo
                if scatter:
                    for q in range(wo):
                        g[b0 + b, o0 + o, r0 + r, q] = gt[o, base + q]
                else:
                    for q in range(wo):
                        gt[o, base + q] = g[b0 + b, o0 + o, r0 + r, q]


# ---------------------------------------------------------------- threads -----------------
# The kernels are serial. The families that matter at scale (convolution, max-pool values
# and backward) also have a threaded driver (``*_threads``, at the end of this file): plain
# Python that runs the pieces the serial kernel runs with ``range`` (chunks of image tiles, or
# images) on Python threads, by calling the same compiled serial functions (``nogil``). So
# results are the same bits serial or threaded, whatever the thread count (a weight gradient
# sums the chunks' parts in chunk order), and threading compiles nothing: numba's
# ``parallel=True`` on a driver re-optimised and re-emitted the whole linked kernel in three
# libraries (gufunc, its wrapper, the driver): +26 s of CPU per dtype for convolution alone.
NCHUNK = 8  # chunks of image tiles per convolution call (fixed: results must not vary)
# work (GEMM multiply-adds; a pooling tap counts TAP_WORK) from which the threaded drivers
# run (eager ops, and the thread slot of compiled steps). OFF by default (``1 << 62``):
# alone on the idle machine the eager small CNN step took 0.81-1.03x the serial kernels' wall
# time with them (three A/B runs, notes/lead-round6.md), but in the benchmark harness, next to
# the peers' threads, the step ran slower with them (eager 37.8 vs 28.3 ms, compiled 27.2 vs
# 24.1 ms): the pool thread does not get a core in time. ``1 << 20`` turns them on.
PAR_MIN = 1 << 62
# the same for eager ops alone (compiled steps read PAR_MIN): ON. Idle machine, the benchmark
# harness (`python -m benchmarks --only cnn`), three runs in a row: the eager small CNN step
# 10.3 and 11.1 ms with the threaded drivers, 13.6 without (12.5 in a run an hour before);
# the compiled step's threaded plan measured no better than its serial one (its per-call
# times spread 6-34 ms: notes/issue-12.md, session 17), so compiled steps keep PAR_MIN.
EAGER_PAR_MIN = 1 << 20


@_jit
def _nchunks(n, nb):
    """Chunks of the ceil(n / nb) image tiles."""
    return min(-(-n // nb), NCHUNK)


@_jit
def _chunk(p, nc, n, nb):
    """[i0, i1): the images of chunk p of nc (whole tiles of nb images)."""
    tiles = -(-n // nb)
    return (p * tiles // nc) * nb, min(((p + 1) * tiles // nc) * nb, n)


# ---------------------------------------------------------------- direct loops (cg == 1) --
@_jit
def _direct_image(y, w, x, b, sh, sw, pt, pl, dh, dw, og, adjoint):
    """Image b of a convolution with one input channel per group: y (N, O, Ho, Wo) =
    conv(x (N, C, H, W), w (O, 1, kh, kw)); ``adjoint``: x = the input gradient for output
    gradient y (the same taps, accumulated the other way)."""
    h, wd = x.shape[2], x.shape[3]
    o, _, kh, kw = w.shape
    ho, wo = y.shape[2], y.shape[3]
    los, his = _col_bounds(kw, wo, wd, sw, dw, pl)
    if adjoint:
        x[b] = 0
    for oc in range(o):
        c = oc // og
        for r in range(ho):
            yrow = y[b, oc, r]
            if not adjoint:
                yrow[:] = 0
            for i in range(kh):
                hh = r * sh + i * dh - pt
                if hh < 0 or hh >= h:
                    continue
                xrow = x[b, c, hh]
                for j in range(kw):
                    wv = w[oc, 0, i, j]
                    off = j * dw - pl
                    if adjoint:
                        for q in range(los[j], his[j]):
                            xrow[q * sw + off] += wv * yrow[q]
                    else:
                        for q in range(los[j], his[j]):
                            yrow[q] += wv * xrow[q * sw + off]


@_jit
def _direct_grad_weight(x, g, gw, oc, sh, sw, pt, pl, dh, dw, og):
    """Output channel oc of the weight gradient of a one-channel-per-group convolution."""
    n, _, h, wd = x.shape
    kh, kw = gw.shape[2], gw.shape[3]
    ho, wo = g.shape[2], g.shape[3]
    c = oc // og
    for i in range(kh):
        for j in range(kw):
            off = j * dw - pl
            lo, hi = _valid(wo, wd, sw, off)
            acc = 0.0
            for b in range(n):
                for r in range(ho):
                    hh = r * sh + i * dh - pt
                    if hh < 0 or hh >= h:
                        continue
                    grow = g[b, oc, r]
                    xrow = x[b, c, hh]
                    for q in range(lo, hi):
                        acc += grow[q] * xrow[q * sw + off]
            gw[oc, 0, i, j] = acc


FWD, GRAD_INPUT, GRAD_WEIGHT = 0, 1, 2


@_jit
def _direct(x, w, g, sh, sw, pt, pl, dh, dw, mode):
    """The three products of a convolution with one input channel per group (depthwise, or
    avg pooling's ones kernel), by ``mode`` (see ``_conv``). Serial: no conv net this project
    measures has one, and each ``prange`` loop costs seconds of cold compile per dtype."""
    n = x.shape[0]
    o = w.shape[0]
    og = o // (x.shape[1])
    if mode == GRAD_WEIGHT:
        for oc in range(o):
            _direct_grad_weight(x, g, w, oc, sh, sw, pt, pl, dh, dw, og)
        return
    for b in range(n):
        _direct_image(g, w, x, b, sh, sw, pt, pl, dh, dw, og, mode == GRAD_INPUT)


# ---------------------------------------------------------------- stride 1: wide rows ------
# With stride 1, the column row of tap (c, i, j) is one contiguous run of the zero-padded
# input plane, (hp, wp) flattened, if each output row is computed over the full padded width
# wp (wo valid positions, then kw - 1 that are dropped): a band of nr output rows of one
# image is L = (nr - 1) * wp + wo columns starting at (r0 + i*dh) * wp + j*dw. im2col and
# col2im become long copies (short loops over wo were most of the time: conv 16->32 on 13x13,
# batch 64: forward 1.57 vs 2.45 ms), at the price of (wp - wo) / wo more GEMM columns. The
# dropped columns of an output-shaped operand are zeros, so they add nothing.


@_jit
def _use_wide(sh, sw, cg, kw, dw, wo):
    """Wide rows for stride 1, several input channels per group and at most 20% more GEMM
    columns (measured: one input channel, e.g. MNIST's first layer, and 4x4 images with
    padding were slower; 8x8 even)."""
    return sh == 1 and sw == 1 and cg > 1 and 5 * (kw - 1) * dw <= wo


@_jit
def _padded(x, pt, pl, hp, wp):
    """x (N, C, H, W) zero-padded to (N, C, hp, wp) and seen as (N, C, hp * wp)."""
    n, c, h, w = x.shape
    if hp == h and wp == w:
        return x.reshape((n, c, h * w))
    xp = np.zeros((n, c, hp, wp), x.dtype)
    xp[:, :, pt : pt + h, pl : pl + w] = x
    return xp.reshape((n, c, hp * wp))


@_jit
def _wide_cols(x3, cols, b0, nb, r0, nr, c0, cg, kh, kw, dh, dw, wo, wp, adjoint):
    """Wide-row im2col: cols[(c*kh+i)*kw+j, b*L + p] = x3[b0+b, c0+c, (r0+i*dh)*wp + j*dw + p];
    ``adjoint``: x3[...] += cols[...] instead."""
    ll = (nr - 1) * wp + wo
    for c in range(cg):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                src = (r0 + i * dh) * wp + j * dw
                for b in range(nb):
                    base = b * ll
                    if adjoint:
                        for p in range(ll):
                            x3[b0 + b, c0 + c, src + p] += cols[row, base + p]
                    else:
                        for p in range(ll):
                            cols[row, base + p] = x3[b0 + b, c0 + c, src + p]


@_jit
def _wide_tile(g, gt, b0, nb, r0, nr, o0, og, wo, wp, scatter):
    """``_out_tile`` in wide rows: gt[o, b*L + r*wp + q] = g[b0+b, o0+o, r0+r, q] (the dropped
    columns are left alone: the caller zeroes them); ``scatter``: g[...] = gt[...]."""
    ll = (nr - 1) * wp + wo
    for o in range(og):
        for b in range(nb):
            for r in range(nr):
                base = b * ll + r * wp
                if scatter:
                    for q in range(wo):
                        g[b0 + b, o0 + o, r0 + r, q] = gt[o, base + q]
                    continue
                for q in range(wo):
                    gt[o, base + q] = g[b0 + b, o0 + o, r0 + r, q]


# ---------------------------------------------------------------- im2col + GEMM -----------
@_jit
def _conv_range(x, x3, w, g, i0, i1, nb, nr, sh, sw, pt, pl, dh, dw, groups, mode, wp, parts, p):
    """Images [i0, i1) of ``_conv``, in tiles of nb images x nr output rows. ``wp`` > 0:
    wide rows (x3 = the padded input, or the input gradient's padded canvas, (N, C, hp*wp));
    else x3 is unused. GRAD_WEIGHT writes this range's part of the weight gradient into
    parts[p] (the first tile writes, the others add)."""
    o, cg, kh, kw = w.shape
    ho, wo = g.shape[2], g.shape[3]
    og = o // groups
    k = cg * kh * kw
    wide = wp > 0
    span = (nr - 1) * wp + wo if wide else nr * wo  # columns per image of a tile
    wg = w.reshape(groups, og, k)
    acc = wg
    if mode == GRAD_WEIGHT:
        acc = parts[p].reshape(groups, og, k)
    cbuf = np.empty(k * nb * span, x.dtype)
    gbuf = np.empty(og * nb * span, x.dtype)
    tmp = np.empty((og, k), x.dtype)
    h, wd = x.shape[2], x.shape[3]
    crop = wide and x3.shape[2] != h * wd
    if mode == GRAD_INPUT and not crop:
        x[i0:i1] = 0
    zeroed = -1  # wide rows: the band height whose dropped columns are zero in gbuf
    for b0 in range(i0, i1, nb):
        bn = min(nb, i1 - b0)
        for r0 in range(0, ho, nr):
            rn = min(nr, ho - r0)
            tt = bn * ((rn - 1) * wp + wo if wide else rn * wo)
            cols = cbuf[: k * tt].reshape(k, tt)
            gt = gbuf[: og * tt].reshape(og, tt)
            if wide and mode != FWD and rn != zeroed:  # where the dropped columns are moved
                gbuf[:] = 0
                zeroed = rn
            for gi in range(groups):
                c0, o0 = gi * cg, gi * og
                if mode != GRAD_INPUT:  # the input's columns
                    if wide:
                        _wide_cols(x3, cols, b0, bn, r0, rn, c0, cg, kh, kw, dh, dw, wo, wp, False)
                    else:
                        _cols(x, cols, b0, bn, r0, rn, c0, cg, kh, kw, sh, sw, pt, pl, dh, dw, wo,
                              False)  # fmt: skip
                if mode != FWD:  # the output gradient as GEMM columns
                    if wide:
                        _wide_tile(g, gt, b0, bn, r0, rn, o0, og, wo, wp, False)
                    else:
                        _out_tile(g, gt, b0, bn, r0, rn, o0, og, wo, False)
                if mode == FWD:
                    np.dot(wg[gi], cols, gt)
                    if wide:
                        _wide_tile(g, gt, b0, bn, r0, rn, o0, og, wo, wp, True)
                    else:
                        _out_tile(g, gt, b0, bn, r0, rn, o0, og, wo, True)
                elif mode == GRAD_INPUT:
                    np.dot(wg[gi].T, gt, cols)  # W^T as a transposed operand: no copy
                    if wide:
                        _wide_cols(x3, cols, b0, bn, r0, rn, c0, cg, kh, kw, dh, dw, wo, wp, True)
                    else:
                        _cols(x, cols, b0, bn, r0, rn, c0, cg, kh, kw, sh, sw, pt, pl, dh, dw, wo,
                              True)  # fmt: skip
                elif b0 == i0 and r0 == 0:
                    np.dot(gt, cols.T, acc[gi])
                else:
                    np.dot(gt, cols.T, tmp)
                    acc[gi] += tmp
    if mode == GRAD_INPUT and crop:
        hp = x3.shape[2] // wp
        x4 = x3.reshape((x3.shape[0], x3.shape[1], hp, wp))
        x[i0:i1] = x4[i0:i1, :, pt : pt + h, pl : pl + wd]


@_jit
def _canvas(x, w, g, sh, sw, pt, pl, dh, dw, mode):
    """(x3, wp) for ``_conv_range``: wide rows (wp > 0) with x3 the zero-padded input, or the
    input gradient's padded canvas (cropped at the end), or x itself seen as (N, C, H*W)."""
    n, c, h, wd = x.shape
    kh, kw = w.shape[2], w.shape[3]
    ho, wo = g.shape[2], g.shape[3]
    if not _use_wide(sh, sw, w.shape[1], kw, dw, wo):
        return x.reshape((n, c, h * wd)), 0
    hp, wp = ho + (kh - 1) * dh, wo + (kw - 1) * dw
    if mode != GRAD_INPUT:
        return _padded(x, pt, pl, hp, wp), wp
    if hp != h or wp != wd:
        return np.zeros((n, c, hp * wp), x.dtype), wp
    return x.reshape((n, c, h * wd)), wp


@_jit
def _sum_parts(w, parts):
    """w = the sum of the chunks' weight-gradient parts, in chunk order (0 when none)."""
    acc = w.reshape(w.size)
    acc[:] = 0
    for p in range(parts.shape[0]):
        acc += parts[p]


@_jit
def _conv_setup(x, w, g, sh, sw, pt, pl, dh, dw, mode):
    """(x3, wp, nb, nr, nc, parts) of ``_conv``: the canvas (``_canvas``), the tiling, the
    number of chunks and the weight gradient's per-chunk parts."""
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    ho, wo = g.shape[2], g.shape[3]
    k = cg * kh * kw
    x3, wp = _canvas(x, w, g, sh, sw, pt, pl, dh, dw, mode)
    nb, nr = _tiling(n, ho, wp if wp > 0 else wo, k, x.itemsize)
    nc = _nchunks(n, nb) if n * ho * wo > 0 or mode == GRAD_INPUT else 0
    parts = np.empty((nc if mode == GRAD_WEIGHT else 0, o * k), x.dtype)
    return x3, wp, nb, nr, nc, parts


@_jit
def _conv(x, w, g, sh, sw, pt, pl, dh, dw, groups, mode):
    """The three products of a convolution by im2col + GEMM, by ``mode``: FWD writes
    g = conv(x, w); GRAD_INPUT writes x = the input gradient for output gradient g;
    GRAD_WEIGHT writes w = the weight gradient. The images run in chunks of image tiles
    (``conv2d_threads`` runs the same chunks on numba's threads)."""
    x3, wp, nb, nr, nc, parts = _conv_setup(x, w, g, sh, sw, pt, pl, dh, dw, mode)
    for p in range(nc):
        i0, i1 = _chunk(p, nc, x.shape[0], nb)
        _conv_range(x, x3, w, g, i0, i1, nb, nr, sh, sw, pt, pl, dh, dw, groups, mode, wp,
                    parts, p)  # fmt: skip
    if mode == GRAD_WEIGHT:
        _sum_parts(w, parts)


@_jit
def _conv_product(x, w, g, sh, sw, pt, pl, dh, dw, groups, mode):
    """``_direct`` for one input channel per group and either several groups (depthwise) or
    one output channel (avg pooling's ones kernel), else ``_conv``."""
    o, cg = w.shape[0], w.shape[1]
    if cg == 1 and (groups > 1 or o == 1):
        _direct(x, w, g, sh, sw, pt, pl, dh, dw, mode)
    else:
        _conv(x, w, g, sh, sw, pt, pl, dh, dw, groups, mode)


# ---------------------------------------------------------------- convolution -------------
@_jit
def conv2d(a, b, out, sh, sw, pt, pl, dh, dw, groups, mode):
    """The convolution kernel, all three products in one function (one compile per dtype),
    by ``mode``: FWD out (N, O, Ho, Wo) = cross-correlation of a = x (N, C, H, W) with
    b = w (O, C/groups, kh, kw); GRAD_INPUT out = dx (N, C, H, W) for a = the output
    gradient g and b = w; GRAD_WEIGHT out = dw (O, C/groups, kh, kw) for a = x and b = g."""
    x = out if mode == GRAD_INPUT else a
    w = out if mode == GRAD_WEIGHT else b
    g = out if mode == FWD else (a if mode == GRAD_INPUT else b)
    _conv_product(x, w, g, sh, sw, pt, pl, dh, dw, groups, mode)


# ---------------------------------------------------------------- max pooling -------------
@_inline
def _argmax(x, b, c, r, q, kh, kw, sh, sw, pt, pl, dh, dw):
    """(value, row, col) of the maximum of window (r, q) of x[b, c]: the first maximum, or
    the last NaN (torch's ``val > max || isnan(val)``)."""
    h, wd = x.shape[2], x.shape[3]
    h0 = r * sh - pt
    w0 = q * sw - pl
    # windows inside the input are the common case: no integer division for them
    if h0 >= 0 and h0 + (kh - 1) * dh < h:
        ilo, ihi = 0, kh
    else:
        ilo, ihi = _valid(kh, h, dh, h0)
    if w0 >= 0 and w0 + (kw - 1) * dw < wd:
        jlo, jhi = 0, kw
    else:
        jlo, jhi = _valid(kw, wd, dw, w0)
    bh = h0 + ilo * dh
    bw = w0 + jlo * dw
    best = x[b, c, bh, bw]
    # 4-D indexing and branch-free selects: a row view per tap (reference counted) and the
    # short-circuit branches of ``or`` on random data each cost several times the loop
    for i in range(ilo, ihi):
        hh = h0 + i * dh
        for j in range(jlo, jhi):
            ww = w0 + j * dw
            v = x[b, c, hh, ww]
            take = (v > best) | (v != v)
            best = v if take else best
            bh = hh if take else bh
            bw = ww if take else bw
    return best, bh, bw


@_inline
def _window2x2(x, b, c, h0, w0):
    """(value, flat h * W + w) of the maximum of the 2x2 window at (h0, w0) of x[b, c], by
    ``_argmax``'s rule, unrolled: the 2x2 stride-2 pool of every CNN. Measured against the
    tap-major rows below (whose loops run over one output row, 13 or 5 windows here), float32,
    idle, 1 thread: indices 64x16x26x26 0.45 vs 1.33 ms, 64x32x11x11 0.14 vs 0.56; values
    0.11 vs 0.39, 0.06 vs 0.20."""
    wd = x.shape[3]
    best = x[b, c, h0, w0]
    at = h0 * wd + w0
    for t in range(1, 4):  # unrolled by LLVM: a constant trip count
        i, j = t >> 1, t & 1
        v = x[b, c, h0 + i, w0 + j]
        take = (v > best) | (v != v)
        best = v if take else best
        at = (h0 + i) * wd + w0 + j if take else at
    return best, at


@_inline
def _pool2x2(x, dst, b, index):
    """dst[b] = the 2x2 stride-2 windows' maxima of x[b] (``index``: their flat indices)."""
    for ch in range(x.shape[1]):
        for r in range(dst.shape[2]):
            for q in range(dst.shape[3]):
                v, at = _window2x2(x, b, ch, 2 * r, 2 * q)
                if index:
                    dst[b, ch, r, q] = at
                else:
                    dst[b, ch, r, q] = v


@_jit
def _tiles(h, wd, ho, wo, kh, kw, sh, sw, pt, pl, dh, dw):
    """True when the pooling windows tile the input: stride = kernel, no padding or
    dilation, every window inside (the usual 2x2, stride 2)."""
    plain = sh == kh and sw == kw and dh == 1 and dw == 1 and pt == 0 and pl == 0
    return plain and ho * kh <= h and wo * kw <= wd


@_jit
def _pool_tiles_values(x, out, b, kh, kw):
    """Max-pool values of image b for windows that tile the input (``_tiles``): no bounds,
    the first tap initialises the row (2x faster than the general loop: 64x16x26x26,
    0.65 vs 1.37 ms, 1 thread)."""
    c = x.shape[1]
    ho, wo = out.shape[2], out.shape[3]
    if kh == 2 and kw == 2:
        _pool2x2(x, out, b, False)
        return
    for ch in range(c):
        for r in range(ho):
            h0 = r * kh
            for q in range(wo):
                out[b, ch, r, q] = x[b, ch, h0, q * kw]
            for i in range(kh):
                for j in range(kw):
                    for q in range(wo):
                        v = x[b, ch, h0 + i, q * kw + j]
                        o = out[b, ch, r, q]
                        out[b, ch, r, q] = v if (v > o) | (v != v) else o


@_jit
def _pool_values(x, out, b, kh, kw, sh, sw, pt, pl, dh, dw):
    """Max-pool values of image b: tap-major loops over whole output rows (no argmax to
    track): they vectorise, and measured several times faster than a per-window loop."""
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    ho, wo = out.shape[2], out.shape[3]
    los, his = _col_bounds(kw, wo, wd, sw, dw, pl)
    out[b] = -np.inf
    for ch in range(c):
        for i in range(kh):
            for r in range(ho):
                hh = r * sh + i * dh - pt
                if hh < 0 or hh >= h:
                    continue
                for j in range(kw):
                    off = j * dw - pl
                    for q in range(los[j], his[j]):
                        v = x[b, ch, hh, q * sw + off]
                        o = out[b, ch, r, q]
                        out[b, ch, r, q] = v if (v > o) | (v != v) else o


VALUES, INDICES = 0, 1


@_jit
def _pool_image(kind, x, out, idx, b, kh, kw, sh, sw, pt, pl, dh, dw):
    """Image b of a max-pool kernel, by ``kind``: VALUES out = window maxima of x; INDICES
    also idx = flat h * W + w of each argmax."""
    h, wd = x.shape[2], x.shape[3]
    ho, wo = out.shape[2], out.shape[3]
    if kind == VALUES:
        if _tiles(h, wd, ho, wo, kh, kw, sh, sw, pt, pl, dh, dw):
            _pool_tiles_values(x, out, b, kh, kw)
        else:
            _pool_values(x, out, b, kh, kw, sh, sw, pt, pl, dh, dw)
        return
    for ch in range(x.shape[1]):
        for r in range(ho):
            for q in range(wo):
                v, bh, bw = _argmax(x, b, ch, r, q, kh, kw, sh, sw, pt, pl, dh, dw)
                out[b, ch, r, q] = v
                idx[b, ch, r, q] = bh * wd + bw


@_jit
def _pool(kind, x, out, idx, kh, kw, sh, sw, pt, pl, dh, dw, b0, b1):
    """``_pool_image`` over images [b0, b1)."""
    for b in range(b0, b1):
        _pool_image(kind, x, out, idx, b, kh, kw, sh, sw, pt, pl, dh, dw)


@_jit
def _no_idx():
    """The index array of the kinds that have none."""
    return np.zeros((0, 0, 0, 0), np.int64)


@_jit
def max_pool2d_values(x, out, kh, kw, sh, sw, pt, pl, dh, dw):
    """out (N, C, Ho, Wo) = window maxima of x (a NaN in a window gives NaN)."""
    _pool(VALUES, x, out, _no_idx(), kh, kw, sh, sw, pt, pl, dh, dw, 0, x.shape[0])


@_jit
def max_pool2d_indices(x, idx, kh, kw, sh, sw, pt, pl, dh, dw):
    """idx (N, C, Ho, Wo, int64) = flat h * W + w input index of each window's maximum."""
    n, h, wd = x.shape[0], x.shape[2], x.shape[3]
    ho, wo = idx.shape[2], idx.shape[3]
    if _tiles(h, wd, ho, wo, kh, kw, sh, sw, pt, pl, dh, dw):
        for b in range(n):
            _pool_tiles_indices(x, idx, b, kh, kw)
        return
    vals = np.empty(idx.shape, x.dtype)
    _pool(INDICES, x, vals, idx, kh, kw, sh, sw, pt, pl, dh, dw, 0, n)


@_jit
def _pool_tiles_indices(x, idx, b, kh, kw):
    """``max_pool2d_indices`` of image b for windows that tile the input (``_tiles``), tap-major
    over an output row (the loops vectorise, as in ``_pool_tiles_values``): the row's maxima,
    then the taps from the last back, each taking the window when it equals the maximum (so
    the first equal tap wins) or is a NaN while none is taken yet (the last NaN wins):
    ``_argmax``'s rule. Tap numbers in x's dtype (one lane width with the values). Measured,
    64x16x26x26 float32, load 10, thread CPU: 2.4 ms; a per-window search after the maxima
    3.6, the index tracked in the maxima loop 4.2; the values alone 1.0."""
    c, wd = x.shape[1], x.shape[3]
    ho, wo = idx.shape[2], idx.shape[3]
    if kh == 2 and kw == 2:
        _pool2x2(x, idx, b, True)
        return
    best = np.empty(wo, x.dtype)
    tap = np.empty(wo, x.dtype)  # tap number, in x's dtype: one lane width with the values
    offs = np.empty(kh * kw, np.int64)  # flat offset of tap t inside its window
    for i in range(kh):
        for j in range(kw):
            offs[i * kw + j] = i * wd + j
    for ch in range(c):
        for r in range(ho):
            h0 = r * kh
            for q in range(wo):
                best[q] = x[b, ch, h0, q * kw]
            for i in range(kh):
                for j in range(kw):
                    for q in range(wo):
                        v = x[b, ch, h0 + i, q * kw + j]
                        o = best[q]
                        best[q] = v if (v > o) | (v != v) else o
            for q in range(wo):
                tap[q] = -1
            for i in range(kh - 1, -1, -1):
                for j in range(kw - 1, -1, -1):
                    t = x.dtype.type(i * kw + j)
                    for q in range(wo):
                        v = x[b, ch, h0 + i, q * kw + j]
                        hit = (v == best[q]) | ((v != v) & (tap[q] < 0))
                        tap[q] = t if hit else tap[q]
            for q in range(wo):
                idx[b, ch, r, q] = h0 * wd + q * kw + offs[int(tap[q])]


@_jit
def _scatter(g, idx, dx, b0, b1):
    """Images [b0, b1) of ``max_pool2d_backward``."""
    n, c = dx.shape[0], dx.shape[1]
    d3 = dx.reshape((n, c, dx.shape[2] * dx.shape[3]))
    ho, wo = g.shape[2], g.shape[3]
    for b in range(b0, b1):
        d3[b] = 0
        for ch in range(c):
            for r in range(ho):
                for q in range(wo):
                    d3[b, ch, idx[b, ch, r, q]] += g[b, ch, r, q]


@_jit
def max_pool2d_backward(g, idx, dx, kh, kw, sh, sw, pt, pl, dh, dw):
    """dx (N, C, H, W) = g (N, C, Ho, Wo) scattered to the flat argmax ``idx`` of each window
    (``max_pool2d_indices``; summed where windows share it). The pool parameters are unused:
    the same arguments as every pool kernel."""
    _scatter(g, idx, dx, 0, dx.shape[0])


@_jit
def max_pool2d_gather(x, idx, out, kh, kw, sh, sw, pt, pl, dh, dw):
    """out (N, C, Ho, Wo) = x (N, C, H, W) read at the flat argmax ``idx`` of each window: the
    pooled values (with ``idx`` of x), or max_pool2d_backward's VJP."""
    n, c = x.shape[0], x.shape[1]
    x3 = x.reshape((n, c, x.shape[2] * x.shape[3]))
    ho, wo = out.shape[2], out.shape[3]
    for b in range(n):
        for ch in range(c):
            for r in range(ho):
                for q in range(wo):
                    out[b, ch, r, q] = x3[b, ch, idx[b, ch, r, q]]


# ---------------------------------------------------------------- constant padding --------
@_jit
def constant_pad(x, out, value, n1, n2, n3, b1, b2, b3, m1, m2, m3):
    """out = x padded with ``value``, both seen as 4-D: x (n0, n1, n2, n3) lands at offset
    (0, b1, b2, b3) of out (n0, m1, m2, m3); n0, a leading unpadded block (the batch, or 1),
    is implied by the sizes. Any pad of at most three padded dimensions has such a view
    (``ops.conv._pad_dims``)."""
    out.reshape(out.size)[:] = value
    if x.size == 0 or out.size == 0:
        return
    xv = x.reshape((x.size // (n1 * n2 * n3), n1, n2, n3))
    ov = out.reshape((xv.shape[0], m1, m2, m3))
    for i in range(xv.shape[0]):
        for j in range(n1):
            for k in range(n2):
                orow = ov[i, b1 + j, b2 + k]
                xrow = xv[i, j, k]
                for q in range(n3):
                    orow[b3 + q] = xrow[q]


# ---------------------------------------------------------------- threaded drivers --------
STANDINS = {}  # kernel name -> its NumPy stand-in (ops/conv.py: the ops' references)
THREADS = None  # threads of the drivers; None: numba's thread count (tests set others)
_POOL = {}
_POOL_LOCK = threading.Lock()


def _executor(k):
    """A pool of k worker threads (created once per k)."""
    with _POOL_LOCK:
        if k not in _POOL:
            _POOL[k] = ThreadPoolExecutor(k, thread_name_prefix="jitgrad-kernels")
        return _POOL[k]


def _on_threads(fn, n):
    """fn(p) for the n pieces p, on this thread and numba's thread count - 1 pool threads (the
    serial functions fn calls release the GIL). Each thread claims the next piece when it is
    free, so a pool thread that gets no core (a busy machine) takes none: this thread runs
    them all and waits only for a piece a pool thread started."""
    t = min(n, THREADS or numba.get_num_threads())
    claim = itertools.count()
    box = [fn]  # emptied at the end: a cancelled work item waits in the pool's queue, and a
    # finished one in its thread, until the pool gets to it; holding fn they held its arrays,
    # which ops.buffers then saw as in use and allocated afresh (a flaky buffer-reuse test)

    def work():
        f = box[0]
        p = next(claim)  # atomic under the GIL
        while f is not None and p < n:
            f(p)
            p = next(claim)

    futs = [_executor(t - 1).submit(work) for _ in range(t - 1)]
    try:
        work()
        for f in futs:
            if not f.cancel():  # not started yet: nothing to wait for
                f.result()
    finally:
        box[0] = None


def conv2d_threads(a, b, out, sh, sw, pt, pl, dh, dw, groups, mode):
    """``conv2d`` with its chunks of image tiles on threads (the same bits); the direct loops
    (one input channel per group) stay serial."""
    x = out if mode == GRAD_INPUT else a
    w = out if mode == GRAD_WEIGHT else b
    g = out if mode == FWD else (a if mode == GRAD_INPUT else b)
    if w.shape[1] == 1 and (groups > 1 or w.shape[0] == 1):
        conv2d(a, b, out, sh, sw, pt, pl, dh, dw, groups, mode)
        return
    x3, wp, nb, nr, nc, parts = _conv_setup(x, w, g, sh, sw, pt, pl, dh, dw, mode)

    # the bounds before the threads start: a nogil call from Python re-takes the GIL after it,
    # which cost ~0.5 ms per call with the other thread busy (cProfile, load 4)
    bounds = [_chunk(p, nc, x.shape[0], nb) for p in range(nc)]

    def run(p):
        i0, i1 = bounds[p]
        _conv_range(x, x3, w, g, i0, i1, nb, nr, sh, sw, pt, pl, dh, dw, groups, mode, wp,
                    parts, p)  # fmt: skip

    _on_threads(run, nc)
    if mode == GRAD_WEIGHT:
        _sum_parts(w, parts)


def _pool_threads(kind, x, out, *static):
    """``_pool`` over NCHUNK pieces of the images, on threads."""
    n = x.shape[0]
    nc = min(n, NCHUNK)
    idx = _no_idx()

    def run(p):
        _pool(kind, x, out, idx, *static, p * n // nc, (p + 1) * n // nc)

    _on_threads(run, nc)


def max_pool2d_values_threads(x, out, kh, kw, sh, sw, pt, pl, dh, dw):
    """``max_pool2d_values`` with the images on threads."""
    _pool_threads(VALUES, x, out, kh, kw, sh, sw, pt, pl, dh, dw)


def max_pool2d_backward_threads(g, idx, dx, kh, kw, sh, sw, pt, pl, dh, dw):
    """``max_pool2d_backward`` with the images on threads."""
    n = dx.shape[0]
    nc = min(n, NCHUNK)
    _on_threads(lambda p: _scatter(g, idx, dx, p * n // nc, (p + 1) * n // nc), nc)
