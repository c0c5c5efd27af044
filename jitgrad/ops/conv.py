"""Convolution, pooling and padding primitives (NCHW), each with its VJP in jitgrad ops.

Each conv/pool primitive runs a numba kernel from ``_conv_kernels`` (compiled once, cached
on disk) for float32/float64; its NumPy implementation (``_*_ref`` below, im2col through
``sliding_window_view`` plus one BLAS contraction) is kept beside it as the oracle, in
``prim.extra["ref"]``, and runs for other dtypes (with a warning, once). Convolution's VJP is
two more primitives, ``conv2d_grad_input`` (a transposed convolution / col2im) and
``conv2d_grad_weight``; all three are bilinear, so each one's VJP is written with the other
two and derivatives of any order stay inside this closed set. Max pooling works the same
way with ``max_pool2d_grad`` (scatter to the argmax) and ``max_pool2d_gather`` (read at
the argmax), which are each other's VJP.

Static parameters (all hashable tuples/ints, as the compiler keys on them):
``stride=(sh, sw)``, ``padding=(top, bottom, left, right)``, ``dilation=(dh, dw)``,
``groups``; the grad primitives also carry the spatial size they must produce.
"""

import os
import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._grad_mode import is_grad_enabled
from . import _conv_kernels as K
from . import _lazy, buffers
from .registry import apply, register

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_warned = set()


def _on_kernel(op, *arrays, dtypes=_KERNEL_DTYPES):
    """True when the numba kernel serves these arrays; else warns once (NumPy path is slower)."""
    dt = arrays[0].dtype
    if dt in dtypes and all(a.dtype == dt for a in arrays):
        return True
    key = (op, tuple(a.dtype.name for a in arrays))
    if key not in _warned:
        _warned.add(key)
        warnings.warn(
            f"{op}: no compiled kernel for dtype {'/'.join(key[1])}; running the slower NumPy "
            "implementation (convert to float32 or float64 for the fast path)",
            RuntimeWarning,
            stacklevel=3,
        )
    return False


def _c(a):
    return np.ascontiguousarray(a)


_THREADS = []


def _compiling():
    """True while a traced step compiles in the worker (the hold that keeps NumPy's BLAS on
    one thread meanwhile): the second core is the worker's then, and the threaded drivers ran
    slower than the serial kernels beside it (MNIST CNN eager step during a cold compile,
    median 14.1 vs 13.3 ms; 9.6 with threads and no compile)."""
    from ..compile import worker

    return worker.blas_held()


def _threads():
    """True when the kernels may run their threaded drivers (numba is set to 2 or more
    threads). Importing ``cpu_kernels`` gives the BLAS the kernels' ``np.dot`` calls (scipy's
    OpenBLAS) one thread, as in compiled steps: the drivers split images over threads, and a
    2-thread BLAS inside each thread oversubscribed the cores (conv 16->32 on a busy 2-core
    machine: 160 vs 2 ms). Not when this process's cores are shared with other ranks of an
    MPI job on this node (``mpiexec -n 2`` on 2 cores: each rank one core)."""
    if not _THREADS:
        import numba

        from ..compile.backends import cpu_kernels  # noqa: F401  (limit_blas_threads)

        _THREADS.append(numba.config.NUMBA_NUM_THREADS > 1 and _cores_per_rank() > 1)
    return _THREADS[0]


def _cores_per_rank():
    """This process's cores over the MPI ranks on this node (MPICH's ``MPI_LOCALNRANKS``,
    Open MPI's ``OMPI_COMM_WORLD_LOCAL_SIZE``; 1 rank without either)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ranks = 1
    for var in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE"):
        try:
            ranks = max(ranks, int(os.environ.get(var, "1")))
        except ValueError:
            pass
    return (cores or 1) // ranks


# ---------------------------------------------------------------- helpers -----------------
def _pad_hw(x, padding, value=0.0):
    pt, pb, pl, pr = padding
    if pt == pb == pl == pr == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)


def _windows(xp, ksize, stride, dilation, out_hw):
    """(N, C, Ho, Wo, kh, kw) strided view of the padded input (no copy)."""
    kh, kw = ksize
    sh, sw = stride
    dh, dw = dilation
    ho, wo = out_hw
    v = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return v[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw, ::dh, ::dw]


def _out_hw(in_hw, ksize, stride, padding, dilation):
    pt, pb, pl, pr = padding
    return (
        (in_hw[0] + pt + pb - dilation[0] * (ksize[0] - 1) - 1) // stride[0] + 1,
        (in_hw[1] + pl + pr - dilation[1] * (ksize[1] - 1) - 1) // stride[1] + 1,
    )


# ---------------------------------------------------------------- convolution -------------
def _conv2d_ref(x, w, stride, padding, dilation, groups):
    o, cg, kh, kw = w.shape
    ho, wo = _out_hw(x.shape[2:], (kh, kw), stride, padding, dilation)
    win = _windows(_pad_hw(x, padding), (kh, kw), stride, dilation, (ho, wo))
    if groups == 1:
        out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, O)
    else:
        og = o // groups
        out = np.concatenate(
            [
                np.tensordot(
                    win[:, g * cg : (g + 1) * cg],
                    w[g * og : (g + 1) * og],
                    axes=([1, 4, 5], [1, 2, 3]),
                )
                for g in range(groups)
            ],
            axis=3,
        )
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _conv2d_grad_input_ref(g, w, stride, padding, dilation, groups, in_hw):
    n, o, ho, wo = g.shape
    _, cg, kh, kw = w.shape
    og = o // groups
    # cols[c, i, j, n, h, w] = sum_o w[o, c, i, j] * g[n, o, h, w]   (within a group)
    parts = [
        np.tensordot(w[k * og : (k + 1) * og], g[:, k * og : (k + 1) * og], axes=([0], [1]))
        for k in range(groups)
    ]  # (Cg, kh, kw, N, Ho, Wo)
    cols = parts[0] if groups == 1 else np.concatenate(parts, axis=0)
    # col2im on a (C, N, H, W) canvas so that every added slab is contiguous
    c = cg * groups
    pt, pb, pl, pr = padding
    sh, sw = stride
    dh, dw = dilation
    h, w_ = in_hw
    hp = max(h + pt + pb, (ho - 1) * sh + (kh - 1) * dh + 1)
    wp = max(w_ + pl + pr, (wo - 1) * sw + (kw - 1) * dw + 1)
    canvas = np.zeros((c, n, hp, wp), dtype=g.dtype)
    for i in range(kh):
        for j in range(kw):
            canvas[
                :,
                :,
                i * dh : i * dh + (ho - 1) * sh + 1 : sh,
                j * dw : j * dw + (wo - 1) * sw + 1 : sw,
            ] += cols[:, i, j]
    return np.ascontiguousarray(canvas[:, :, pt : pt + h, pl : pl + w_].transpose(1, 0, 2, 3))


def _conv2d_grad_weight_ref(x, g, stride, padding, dilation, groups, ksize):
    n, o, ho, wo = g.shape
    c = x.shape[1]
    cg, og = c // groups, o // groups
    win = _windows(_pad_hw(x, padding), ksize, stride, dilation, (ho, wo))
    parts = [
        np.tensordot(
            g[:, k * og : (k + 1) * og], win[:, k * cg : (k + 1) * cg], axes=([0, 2, 3], [0, 2, 3])
        )
        for k in range(groups)
    ]
    return parts[0] if groups == 1 else np.concatenate(parts, axis=0)


def _conv_static(stride, padding, dilation, groups, **_):
    """The kernels' int arguments after the arrays: sh, sw, pt, pl, dh, dw, groups."""
    return (*stride, padding[0], padding[2], *dilation, groups)


def _conv_mode(mode):
    """``K.conv2d``'s arguments after the arrays for one product: ``_conv_static``, mode."""

    def static(**p):
        return (*_conv_static(**p), mode)

    return static


def _kernel_op(name, extra, out_shape, out_dtype=None):
    """A primitive's implementation: ``kernel(*inputs, out, *static(**params))`` (numba, into
    a fresh ``out``; its threaded driver ``extra["kernel_threads"]`` from ``K.EAGER_PAR_MIN``
    of work) for float32/float64 inputs, else the NumPy ``ref`` (with a warning)."""
    ref, kernel, static = extra["ref"], extra["kernel"], extra["kernel_static"]
    threads = extra.get("kernel_threads")
    index_inputs = extra.get("kernel_index_inputs", ())  # int64 index operands

    def impl(*arrays, **p):
        if not _on_kernel(name, *[a for i, a in enumerate(arrays) if i not in index_inputs]):
            return ref(*arrays, **p)
        shape = out_shape(*[a.shape for a in arrays], **p)
        out = buffers.empty(shape, out_dtype or arrays[0].dtype)  # no page faults when steady
        args = (*[_c(a) for a in arrays], out, *static(**p))
        if not _lazy.ready(name, kernel, args):  # compiling in the worker (first use)
            return ref(*arrays, **p)
        fn = kernel
        if threads is not None and _threads() and not _compiling():
            if extra["kernel_work"]([a.shape for a in arrays], shape, p) >= K.EAGER_PAR_MIN:
                fn = threads
        fn(*args)
        return out

    impl.__name__ = impl.__qualname__ = f"_{name}_impl"
    return impl


def _extra(ref, kernel, static, grad_of=None, threads=None, work=None):
    """What the backends read: the oracle, the kernel a generated step calls directly and its
    static arguments; ``threads``: the kernel's threaded driver, used from ``work``(input
    shapes, output shape, params) = ``K.EAGER_PAR_MIN`` (eager ops; compiled steps:
    ``K.PAR_MIN``); ``grad_of`` names the gradient product an
    op computes (``explain()`` counts them)."""
    e = {"ref": ref, "kernel": kernel, "kernel_static": static}
    if threads is not None:
        e["kernel_threads"], e["kernel_work"] = threads, work
    if grad_of:
        e["grad_of"] = grad_of
    return e


def _size(shape):
    return int(np.prod(shape, dtype=np.int64))


def _conv_work(g, w):
    """Work of a convolution product (multiply-adds): g the output-shaped operand, w the weight."""
    return lambda ins, out, p: _size(_pick(ins, out, g)) * _size(_pick(ins, out, w)[1:])


def _pick(ins, out, k):
    return out if k == "out" else ins[k]


TAP_WORK = 16  # a pooling window tap costs ~16-50 GEMM multiply-adds (CNN shapes, measured)


def _pool_work(pooled):
    """Work of a pool kernel in multiply-adds (``TAP_WORK`` per window tap): pooled the index
    of its pooled-shaped operand."""
    return lambda ins, out, p: _size(_pick(ins, out, pooled)) * _size(p["ksize"]) * TAP_WORK


def _conv_params(p):
    return {k: p[k] for k in ("stride", "padding", "dilation", "groups")}


def _needs(t):
    # an input that does not require grad has no tape edge: its gradient would be dropped
    return t._requires_grad


def _conv2d_vjp(g, out, x, w, stride, padding, dilation, groups):
    p = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    gx = gw = None
    if _needs(x):
        gx = apply(conv2d_grad_input_p, (g, w), dict(p, in_hw=tuple(x._data.shape[2:])))
    if _needs(w):
        gw = apply(conv2d_grad_weight_p, (x, g), dict(p, ksize=tuple(w._data.shape[2:])))
    return gx, gw


def _conv2d_grad_input_vjp(gg, out, g, w, in_hw, **p):
    # <gg, T(g, w)> = <conv(gg, w), g>: linear in g and in w
    dg = apply(conv2d_p, (gg, w), p) if _needs(g) else None
    dw = None
    if _needs(w):
        dw = apply(conv2d_grad_weight_p, (gg, g), dict(p, ksize=tuple(w._data.shape[2:])))
    return dg, dw


def _conv2d_grad_weight_vjp(gw, out, x, g, ksize, **p):
    # <gw, W(x, g)> = <conv(x, gw), g>
    dx = None
    if _needs(x):
        dx = apply(conv2d_grad_input_p, (g, gw), dict(p, in_hw=tuple(x._data.shape[2:])))
    dg = apply(conv2d_p, (x, gw), p) if _needs(g) else None
    return dx, dg


_CONV2D_EXTRA = _extra(
    _conv2d_ref, K.conv2d, _conv_mode(K.FWD), None, K.conv2d_threads, _conv_work("out", 1)
)
conv2d_p = register(
    "conv2d",
    "opaque",
    _kernel_op(
        "conv2d",
        _CONV2D_EXTRA,
        lambda xs, ws, stride, padding, dilation, **_: (
            (xs[0], ws[0]) + _out_hw(xs[2:], ws[2:], stride, padding, dilation)
        ),
    ),
    extra=_CONV2D_EXTRA,
    vjp=_conv2d_vjp,
    backward_name="ConvolutionBackward0",
    doc="2-D cross-correlation, NCHW input and (O, C/groups, kh, kw) weight",
)
_CONV2D_GRAD_INPUT_EXTRA = _extra(
    _conv2d_grad_input_ref,
    K.conv2d,
    _conv_mode(K.GRAD_INPUT),
    "conv2d input",
    K.conv2d_threads,
    _conv_work(0, 1),
)
conv2d_grad_input_p = register(
    "conv2d_grad_input",
    "opaque",
    _kernel_op(
        "conv2d_grad_input",
        _CONV2D_GRAD_INPUT_EXTRA,
        lambda gs, ws, groups, in_hw, **_: (gs[0], ws[1] * groups) + tuple(in_hw),
    ),
    extra=_CONV2D_GRAD_INPUT_EXTRA,
    vjp=_conv2d_grad_input_vjp,
    backward_name="ConvolutionBackwardBackward0",
    doc="transposed convolution: gradient of conv2d w.r.t. its input",
)
_CONV2D_GRAD_WEIGHT_EXTRA = _extra(
    _conv2d_grad_weight_ref,
    K.conv2d,
    _conv_mode(K.GRAD_WEIGHT),
    "conv2d weight",
    K.conv2d_threads,
    _conv_work(1, "out"),
)
conv2d_grad_weight_p = register(
    "conv2d_grad_weight",
    "opaque",
    _kernel_op(
        "conv2d_grad_weight",
        _CONV2D_GRAD_WEIGHT_EXTRA,
        lambda xs, gs, groups, ksize, **_: (gs[1], xs[1] // groups) + tuple(ksize),
    ),
    extra=_CONV2D_GRAD_WEIGHT_EXTRA,
    vjp=_conv2d_grad_weight_vjp,
    backward_name="ConvolutionBackwardBackward1",
    doc="gradient of conv2d w.r.t. its weight",
)


def conv2d(x, w, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Primitive-level conv2d on checked, same-dtype tensors (see ``nn.functional.conv2d``)."""
    return apply(
        conv2d_p,
        (x, w),
        {
            "stride": tuple(stride),
            "padding": tuple(padding),
            "dilation": tuple(dilation),
            "groups": int(groups),
        },
    )


# ---------------------------------------------------------------- max pooling -------------
# Pooling loops over the kh * kw kernel offsets with whole-array strided slices: a few fast
# elementwise passes instead of a reduction over a strided window view (several times slower).
def _offsets(ksize, stride, dilation, out_hw):
    """(flat index, (h-slice, w-slice)) of the padded input seen by each kernel offset."""
    kh, kw = ksize
    sh, sw = stride
    dh, dw = dilation
    ho, wo = out_hw
    for i in range(kh):
        for j in range(kw):
            yield (
                i * kw + j,
                (
                    slice(i * dh, i * dh + (ho - 1) * sh + 1, sh),
                    slice(j * dw, j * dw + (wo - 1) * sw + 1, sw),
                ),
            )


def _pad_for(x_hw, ksize, stride, padding, dilation, out_hw):
    """Padding extended at the bottom/right so ceil_mode windows fit the canvas."""
    pt, pb, pl, pr = padding
    need_h = (out_hw[0] - 1) * stride[0] + (ksize[0] - 1) * dilation[0] + 1
    need_w = (out_hw[1] - 1) * stride[1] + (ksize[1] - 1) * dilation[1] + 1
    return (pt, max(pb, need_h - x_hw[0] - pt), pl, max(pr, need_w - x_hw[1] - pl))


def _pool_argmax(x, ksize, stride, padding, dilation, out_hw):
    """Flat kernel-offset index of each window's maximum (the first; a NaN wins, like torch)."""
    xp = _pad_hw(x, padding, -np.inf)
    best = idx = None
    for k, (hs, ws) in _offsets(ksize, stride, dilation, out_hw):
        v = xp[:, :, hs, ws]
        if best is None:
            best = v.copy()
            idx = np.zeros(v.shape, dtype=np.int64)
            continue
        m = (v > best) | np.isnan(v)  # torch: `val > maxval || isnan(val)`
        np.copyto(best, v, where=m)
        np.copyto(idx, k, where=m)
    return idx


def _max_pool2d_ref(x, ksize, stride, padding, dilation, out_hw):
    pad = _pad_for(x.shape[2:], ksize, stride, padding, dilation, out_hw)
    xp = _pad_hw(x, pad, -np.inf)
    out = None
    for _, (hs, ws) in _offsets(ksize, stride, dilation, out_hw):
        v = xp[:, :, hs, ws]
        out = v.copy() if out is None else np.maximum(out, v, out=out)
    return out


def _max_pool2d_grad_ref(g, idx, ksize, stride, padding, dilation, out_hw, in_hw):
    n, c = g.shape[:2]
    canvas = np.zeros((n * c, in_hw[0] * in_hw[1]), dtype=g.dtype)
    np.add.at(canvas, (np.arange(n * c)[:, None], idx.reshape(n * c, -1)), g.reshape(n * c, -1))
    return canvas.reshape((n, c) + tuple(in_hw))


def _max_pool2d_gather_ref(x, idx, ksize, stride, padding, dilation, out_hw):
    n, c = x.shape[:2]
    flat = np.take_along_axis(x.reshape(n, c, -1), idx.reshape(n, c, -1), axis=2)
    return flat.reshape(idx.shape)


def _pool_static(ksize, stride, padding, dilation, **_):
    """The pool kernels' int arguments after the arrays: kh, kw, sh, sw, pt, pl, dh, dw."""
    return (*ksize, *stride, padding[0], padding[2], *dilation)


def _pooled_shape(*shapes, out_hw, **_):
    return tuple(shapes[-1][:2]) + tuple(out_hw)


def _flat_indices(x, ksize, stride, padding, dilation, out_hw):
    pad = _pad_for(x.shape[2:], ksize, stride, padding, dilation, out_hw)
    idx = _pool_argmax(x, ksize, stride, pad, dilation, out_hw)
    ho, wo = out_hw
    i, j = np.divmod(idx, ksize[1])
    rows = np.arange(ho)[:, None] * stride[0] + i * dilation[0] - pad[0]
    cols = np.arange(wo)[None, :] * stride[1] + j * dilation[1] - pad[2]
    return (rows * x.shape[3] + cols).astype(np.int64)


def _max_pool2d_vjp(g, out, x, **p):
    # the values alone (no index kept): the argmax again, then the scatter
    idx = apply(max_pool2d_indices_p, (x,), p)
    return (apply(max_pool2d_grad_p, (g, idx), dict(p, in_hw=tuple(x._data.shape[2:]))),)


def _max_pool2d_grad_vjp(gg, out, g, idx, in_hw, **p):
    return apply(max_pool2d_gather_p, (gg, idx), p), None


def _max_pool2d_gather_vjp(gg, out, x, idx, **p):
    return apply(max_pool2d_grad_p, (gg, idx), dict(p, in_hw=tuple(x._data.shape[2:]))), None


_MAX_POOL2D_EXTRA = _extra(
    _max_pool2d_ref, K.max_pool2d_values, _pool_static, None, K.max_pool2d_values_threads,
    _pool_work("out"),
)  # fmt: skip
_MAX_POOL2D_GRAD_EXTRA = dict(_extra(
    _max_pool2d_grad_ref, K.max_pool2d_backward, _pool_static, "max_pool2d input",
    K.max_pool2d_backward_threads, _pool_work(0),
), kernel_index_inputs=(1,))  # fmt: skip
_MAX_POOL2D_GATHER_EXTRA = dict(
    _extra(_max_pool2d_gather_ref, K.max_pool2d_gather, _pool_static), kernel_index_inputs=(1,)
)
_MAX_POOL2D_INDICES_EXTRA = _extra(_flat_indices, K.max_pool2d_indices, _pool_static)
max_pool2d_p = register(
    "max_pool2d",
    "opaque",
    _kernel_op("max_pool2d", _MAX_POOL2D_EXTRA, _pooled_shape),
    extra=_MAX_POOL2D_EXTRA,
    vjp=_max_pool2d_vjp,
    backward_name="MaxPool2DWithIndicesBackward0",
    doc="2-D max pooling (NCHW), -inf padding",
)
max_pool2d_grad_p = register(
    "max_pool2d_grad",
    "opaque",
    _kernel_op(
        "max_pool2d_grad",
        _MAX_POOL2D_GRAD_EXTRA,
        lambda gs, _, in_hw, **p: tuple(gs[:2]) + tuple(in_hw),
    ),
    extra=_MAX_POOL2D_GRAD_EXTRA,
    vjp=_max_pool2d_grad_vjp,
    n_diff=1,
    backward_name="MaxPool2DWithIndicesBackwardBackward0",
    doc="scatter a pooled gradient (N, C, Ho, Wo) to the flat argmax indices of its windows "
    "(max_pool2d_indices), an (N, C, *in_hw) input gradient",
)
max_pool2d_gather_p = register(
    "max_pool2d_gather",
    "opaque",
    _kernel_op("max_pool2d_gather", _MAX_POOL2D_GATHER_EXTRA, _pooled_shape),
    extra=_MAX_POOL2D_GATHER_EXTRA,
    vjp=_max_pool2d_gather_vjp,
    n_diff=1,
    backward_name="MaxPool2DWithIndicesBackward0",
    doc="read a tensor at the flat argmax indices of each pooling window (max_pool2d_indices): "
    "the pooled values of the input they came from, whose gradient scatters through them",
)
max_pool2d_indices_p = register(
    "max_pool2d_indices",
    "opaque",
    _kernel_op("max_pool2d_indices", _MAX_POOL2D_INDICES_EXTRA, _pooled_shape, np.int64),
    extra=_MAX_POOL2D_INDICES_EXTRA,
    doc="flat (h * W + w) input index of each window's maximum (return_indices=True)",
)


def max_pool2d(x, ksize, stride, padding, dilation, out_hw):
    """Max pooling; with a gradient to come, the forward keeps each window's argmax (as
    torch's max_pool2d_with_indices does): the values are read at it and the backward
    scatters through it (5x faster than finding the argmax again, CNN shapes)."""
    p = {"ksize": ksize, "stride": stride, "padding": padding, "dilation": dilation,
         "out_hw": out_hw}  # fmt: skip
    if x._requires_grad and is_grad_enabled():
        return apply(max_pool2d_gather_p, (x, apply(max_pool2d_indices_p, (x,), p)), p)
    return apply(max_pool2d_p, (x,), p)


def max_pool2d_indices(x, ksize, stride, padding, dilation, out_hw):
    return apply(
        max_pool2d_indices_p,
        (x,),
        {
            "ksize": ksize,
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "out_hw": out_hw,
        },
    )


# ---------------------------------------------------------------- constant padding --------
# Any dtype numba compiles: the pad kernel only copies
_PAD_DTYPES = tuple(
    np.dtype(t)
    for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32)
    + (np.uint64, np.float32, np.float64, np.complex64, np.complex128)
)
_PAD_AT_ONCE = 3  # padded dimensions one kernel call takes (its 4-D view, see _pad_dims)


def _pad_dims(shape, pads):
    """(in, before, out) sizes of a 4-D view of a pad, without the leading dimension (the
    kernel infers it): an unpadded dimension folds into the one before it (its size
    multiplies that one's size and padding), so a leading unpadded block (the batch) and
    the padded dimensions remain; None when more than ``_PAD_AT_ONCE`` dimensions are padded."""
    dims = []
    for n, (b, a) in zip(shape, pads):
        if dims and b == a == 0:
            dims[-1] = [v * n for v in dims[-1]]
        else:
            dims.append([n, b, a])
    lead = [dims.pop(0)] if dims and dims[0][1:] == [0, 0] else [[1, 0, 0]]
    if len(dims) > _PAD_AT_ONCE:
        return None
    dims = lead + [[1, 0, 0]] * (_PAD_AT_ONCE - len(dims)) + dims
    return (
        tuple(d[0] for d in dims[1:]),
        tuple(d[1] for d in dims[1:]),
        tuple(d[0] + d[1] + d[2] for d in dims[1:]),
    )


def _pad_static(pads, value, shape):
    """The pad kernel's arguments after the arrays: value, n1..n3, b1..b3, m1..m3."""
    dims = _pad_dims(shape, pads)
    if dims is None:
        raise ValueError(
            f"constant_pad_nd: pads {pads} of a {shape} input pad more than {_PAD_AT_ONCE} "
            "dimensions in one primitive; build it with ops.conv.constant_pad (F.pad), which "
            "chains primitives"
        )
    n, b, m = dims
    return (value, *n, *b, *m)


def _pad_ref(x, pads, value, shape=None):
    return np.pad(x, pads, constant_values=value)


def _pad_impl(x, pads, value, shape):
    if not _on_kernel("constant_pad_nd", x, dtypes=_PAD_DTYPES):
        return _pad_ref(x, pads, value)
    out = buffers.empty(tuple(n + b + a for n, (b, a) in zip(shape, pads)), x.dtype)
    args = (_c(x), out, *_pad_static(pads, value, shape))
    if not _lazy.ready("constant_pad_nd", K.constant_pad, args):  # compiling in the worker
        return _pad_ref(x, pads, value)
    K.constant_pad(*args)
    return out


def _pad_vjp(g, out, x, pads, value, shape):
    from .movement import getitem_p

    spec = tuple(("s", b, b + n, None) for (b, _), n in zip(pads, shape))
    return (apply(getitem_p, (g,), {"spec": spec}),)


pad_p = register(
    "constant_pad_nd",
    "opaque",
    _pad_impl,
    extra=dict(_extra(_pad_ref, K.constant_pad, _pad_static), kernel_dtypes=_PAD_DTYPES),
    vjp=_pad_vjp,
    saves=(),
    backward_name="ConstantPadNdBackward0",
    doc="pad every dimension with a constant; pads = ((before, after), ...), at most "
    f"{_PAD_AT_ONCE} of them non-zero (``constant_pad`` chains calls for more)",
)


def constant_pad(x, pads, value=0.0):
    """``x`` padded by non-negative ``pads`` (one (before, after) pair per dimension)."""
    pads = [tuple(int(v) for v in p) for p in pads]
    padded = [d for d, p in enumerate(pads) if p != (0, 0)]
    # one primitive per _PAD_AT_ONCE padded dimensions (the kernel's 4-D view), outermost first
    for k in range(0, max(len(padded), 1), _PAD_AT_ONCE):
        part = set(padded[k : k + _PAD_AT_ONCE])
        ps = tuple(p if d in part else (0, 0) for d, p in enumerate(pads))
        shape = tuple(x._data.shape)
        x = apply(pad_p, (x,), {"pads": ps, "value": float(value), "shape": shape})
    return x


# ---------------------------------------------------------------- stand-ins ---------------
# The kernels above as their reference implementations, with the kernels' arguments: what a
# tier-1 step (compile/tiers.py) runs while the compile worker compiles a kernel that is not
# in numba's cache yet (the first use after an install), as eager calls run ``ref`` then. The
# bottom/right padding a kernel is not given is the one its output shape implies (_pad_for).
def _implied(x_hw, ksize, sh, sw, pt, pl, dh, dw, out_hw):
    pad = _pad_for(tuple(x_hw), tuple(ksize), (sh, sw), (pt, 0, pl, 0), (dh, dw), tuple(out_hw))
    return dict(stride=(sh, sw), padding=pad, dilation=(dh, dw))


def _conv2d_standin(a, b, out, sh, sw, pt, pl, dh, dw, groups, mode):
    if mode == K.FWD:  # a: input, b: weight, out: output
        p = _implied(a.shape[2:], b.shape[2:], sh, sw, pt, pl, dh, dw, out.shape[2:])
        out[...] = _conv2d_ref(a, b, groups=groups, **p)
    elif mode == K.GRAD_INPUT:  # a: output gradient, b: weight, out: input gradient
        p = _implied(out.shape[2:], b.shape[2:], sh, sw, pt, pl, dh, dw, a.shape[2:])
        out[...] = _conv2d_grad_input_ref(a, b, groups=groups, in_hw=out.shape[2:], **p)
    else:  # a: input, b: output gradient, out: weight gradient
        p = _implied(a.shape[2:], out.shape[2:], sh, sw, pt, pl, dh, dw, b.shape[2:])
        out[...] = _conv2d_grad_weight_ref(a, b, groups=groups, ksize=out.shape[2:], **p)


def _pool_p(x_hw, out_hw, kh, kw, sh, sw, pt, pl, dh, dw):
    return dict(
        ksize=(kh, kw),
        out_hw=tuple(out_hw),
        **_implied(x_hw, (kh, kw), sh, sw, pt, pl, dh, dw, out_hw),
    )


def _max_pool2d_values_standin(x, out, *st):
    out[...] = _max_pool2d_ref(x, **_pool_p(x.shape[2:], out.shape[2:], *st))


def _max_pool2d_indices_standin(x, idx, *st):
    idx[...] = _flat_indices(x, **_pool_p(x.shape[2:], idx.shape[2:], *st))


def _max_pool2d_backward_standin(g, idx, dx, *st):
    p = _pool_p(dx.shape[2:], g.shape[2:], *st)
    dx[...] = _max_pool2d_grad_ref(g, idx, in_hw=dx.shape[2:], **p)


def _max_pool2d_gather_standin(x, idx, out, *st):
    out[...] = _max_pool2d_gather_ref(x, idx, **_pool_p(x.shape[2:], idx.shape[2:], *st))


def _constant_pad_standin(x, out, value, n1, n2, n3, b1, b2, b3, m1, m2, m3):
    out.reshape(-1)[:] = value
    if x.size == 0 or out.size == 0:
        return
    xv = x.reshape(-1, n1, n2, n3)
    out.reshape(xv.shape[0], m1, m2, m3)[:, b1 : b1 + n1, b2 : b2 + n2, b3 : b3 + n3] = xv


K.STANDINS.update(
    conv2d=_conv2d_standin,
    conv2d_threads=_conv2d_standin,
    max_pool2d_values=_max_pool2d_values_standin,
    max_pool2d_values_threads=_max_pool2d_values_standin,
    max_pool2d_indices=_max_pool2d_indices_standin,
    max_pool2d_backward=_max_pool2d_backward_standin,
    max_pool2d_backward_threads=_max_pool2d_backward_standin,
    max_pool2d_gather=_max_pool2d_gather_standin,
    constant_pad=_constant_pad_standin,
)

__all__ = [
    "conv2d",
    "conv2d_p",
    "conv2d_grad_input_p",
    "conv2d_grad_weight_p",
    "max_pool2d",
    "max_pool2d_p",
    "max_pool2d_grad_p",
    "max_pool2d_gather_p",
    "max_pool2d_indices",
    "constant_pad",
    "pad_p",
]
