"""Ops built from primitives (no gradient rules of their own), plus the few index-producing
primitives they need (argsort, unique, bincount, ...), which are not differentiable.

Values that flow through a composite keep their gradient: ``sort`` is an ``argsort``
primitive and a ``gather``; ``tril`` is a ``where`` with a constant mask; ``einsum`` is one
primitive whose VJP is another ``einsum``. Everything here traces like any other op.
"""

import builtins
import math
import warnings

import numpy as np
import scipy.special as _sp

from .. import _dtype, return_types
from ..tensor import Tensor, _wrap, _wrap_dim
from . import composite_reduce as RC
from . import elementwise as E
from . import matmul as M
from . import movement as V
from . import reduce as R
from ._common import promote, promote_float, require_float
from .registry import apply, const, label, public, register

_bmax = builtins.max
_bmin = builtins.min


def _t(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    return x


def _idx_tensor(arr):
    return _wrap(np.ascontiguousarray(arr, dtype=np.int64))


# ---------------------------------------------------------------- sorting ----------------
def _argsort_ref(x, dim, descending):
    """Stable; NaN is the largest value, as torch's: last ascending, first descending."""
    if descending:
        k = x.dtype.kind
        if k == "f":  # NaN first (the primary key), then -x: np.lexsort is stable
            xm = np.moveaxis(x, dim, -1)
            order = np.lexsort((-xm, ~np.isnan(xm)), axis=-1)
            return np.ascontiguousarray(np.moveaxis(order, -1, dim)).astype(np.int64)
        key = -(x.astype(np.int64) if k in "biu" else x)
        return np.argsort(key, axis=dim, kind="stable").astype(np.int64)
    return np.argsort(x, axis=dim, kind="stable").astype(np.int64)


argsort_p = register("argsort", "opaque", _argsort_ref, nondiff=True)


@public(prim=argsort_p, out=True)
def argsort(input, dim=-1, descending=False, stable=False):
    """Indices that sort ``input`` along ``dim`` (stable)."""
    x = _t(input, "argsort")
    if x._data.ndim == 0:
        return _idx_tensor(np.zeros((), np.int64))
    d = _wrap_dim(dim, x._data.ndim, "argsort")
    return apply(argsort_p, (x,), {"dim": d, "descending": bool(descending)})


@public(out=True)
def sort(input, dim=-1, descending=False, stable=False):
    """``(values, indices)`` sorted along ``dim``; values carry the gradient."""
    x = _t(input, "sort")
    if x._data.ndim == 0:
        return return_types.sort(x * 1, _idx_tensor(np.zeros((), np.int64)))
    d = _wrap_dim(dim, x._data.ndim, "sort")
    idx = argsort(x, d, descending)
    return return_types.sort(label(V.gather(x, d, idx), "SortBackward0", (x,)), idx)


@public
def msort(input):
    """``sort(input, dim=0).values``."""
    return sort(input, 0).values


@public(out=True)
def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) values along ``dim`` and their indices."""
    x = _t(input, "topk")
    d = _wrap_dim(dim, x._data.ndim, "topk")
    n = x._data.shape[d] if x._data.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"selected index k out of range (topk: k={k}, size {n} along dim {d})")
    if x._data.ndim == 0:
        return return_types.topk(x * 1, _idx_tensor(np.zeros((), np.int64)))
    idx = V.narrow(argsort(x, d, largest), d, 0, k)
    return return_types.topk(label(V.gather(x, d, idx), "TopkBackward0", (x,)), idx)


@public(out=True)
def kthvalue(input, k, dim=-1, keepdim=False):
    """The k-th smallest value along ``dim`` (1-based) and its index."""
    x = _t(input, "kthvalue")
    d = _wrap_dim(dim, x._data.ndim, "kthvalue")
    n = x._data.shape[d] if x._data.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    idx = V.narrow(argsort(x, d), d, k - 1, 1)
    vals = V.gather(x, d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return return_types.kthvalue(label(vals, "KthvalueBackward0", (x,)), idx)


@public(axis=True, out=True)
def median(input, dim=None, keepdim=False):
    """The lower median; with ``dim``, ``(values, indices)``. A NaN makes it NaN (the first
    NaN's index), as torch; ``nanmedian`` ignores them."""
    x = _t(input, "median")
    if dim is None:
        f = x.reshape(-1)
        n = f._data.shape[0]
        if n == 0:
            return const(np.nan, x._data.dtype) * 1
        idx = _first_nan_or(f, 0, V.narrow(argsort(f, 0), 0, (n - 1) // 2, 1))
        m = V.gather(f, 0, idx).reshape(())
        if f._data.dtype.kind != "f":
            return label(m, "MedianBackward0", (x,))
        m = m.detach()
        # torch spreads the gradient evenly over the elements equal to the median
        tie = (E.eq(f, m) | (E.isnan(f) & E.isnan(m))).to(f.dtype)
        r = m + R.sum(tie * E.where(tie > 0, f - m, 0.0)) / R.sum(tie)
        return label(r, "MedianBackward0", (x,))
    d = _wrap_dim(dim, x._data.ndim, "median")
    r = kthvalue(x, (x._data.shape[d] + 1) // 2, d, True)
    idx = _first_nan_or(x, d, r.indices)
    vals = V.gather(x, d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return return_types.median(label(vals, "MedianBackward1", (x,)), idx)


def _first_nan_or(x, d, idx):
    """``idx`` (keepdim indices along d), or the first NaN's index where x's slice has one."""
    if x._data.dtype.kind != "f":
        return idx
    nan_at = E.isnan(x)
    return E.where(R.any(nan_at, d, keepdim=True), R.argmax(nan_at.to(_dtype.uint8), d, True), idx)


def _mode_ref(x, dim):
    xm = np.moveaxis(x, dim, -1)
    flat = xm.reshape(-1, xm.shape[-1])
    vals = np.empty(flat.shape[0], x.dtype)
    for i, row in enumerate(flat):
        u, c = np.unique(row, return_counts=True)
        vals[i] = u[np.argmax(c)]  # the smallest of the most frequent values, like torch
    return vals.reshape(xm.shape[:-1])


mode_p = register("mode", "opaque", _mode_ref, nondiff=True)


@public(prim=mode_p, out=True)
def mode(input, dim=-1, keepdim=False):
    """The most frequent value along ``dim`` (the smallest on ties) and its last index."""
    x = _t(input, "mode")
    d = _wrap_dim(dim, x._data.ndim, "mode")
    v = apply(mode_p, (x,), {"dim": d})
    hit = E.eq(x, v.unsqueeze(d))
    if x._data.dtype.kind == "f":  # a NaN mode (an all-NaN slice): its NaNs are the hits
        hit = hit | (E.isnan(x) & E.isnan(v.unsqueeze(d)))
    n = x._data.shape[d]
    pos = E.where(
        hit, _wrap(np.arange(n, dtype=np.int64)).reshape((n,) + (1,) * (x.ndim - d - 1)), -1
    )
    idx = R.amax(pos, d, keepdim=True)
    vals = V.gather(x, d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return return_types.mode(vals, idx)


# ---------------------------------------------------------------- unique -----------------
def _unique_np(x, dim, sorted_, return_inverse, return_counts):
    if dim is None:
        # each NaN is its own value, as torch (NaN != NaN)
        u, inv, cnt = np.unique(
            x.reshape(-1), return_inverse=True, return_counts=True, equal_nan=False
        )
        inv = inv.reshape(x.shape)
    else:
        u, inv, cnt = np.unique(x, return_inverse=True, return_counts=True, axis=dim)
        inv = inv.reshape(-1)
    return u, inv.astype(np.int64), cnt.astype(np.int64)


@public
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """Distinct values (sorted); optionally the inverse indices and the counts."""
    x = _t(input, "unique")
    x._check_concrete("unique")  # how many values it returns comes from the values
    d = None if dim is None else _wrap_dim(dim, x._data.ndim, "unique")
    u, inv, cnt = _unique_np(x._data, d, sorted, return_inverse, return_counts)
    out = [_wrap(u)]
    if return_inverse:
        out.append(_wrap(inv))
    if return_counts:
        out.append(_wrap(cnt))
    return out[0] if len(out) == 1 else tuple(out)


@public
def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Collapse runs of equal consecutive values."""
    x = _t(input, "unique_consecutive")
    x._check_concrete("unique_consecutive")  # its output's length comes from the values
    if dim is not None:
        raise NotImplementedError("unique_consecutive: dim= is not supported by jitgrad")
    f = x._data.reshape(-1)
    if f.size == 0:
        starts = np.zeros(0, np.int64)
    else:
        starts = np.concatenate([[0], np.nonzero(f[1:] != f[:-1])[0] + 1])
    out = [_wrap(f[starts].copy())]
    if return_inverse:
        inv = np.zeros(f.size, np.int64)
        inv[starts[1:]] = 1
        out.append(_wrap(np.cumsum(inv).reshape(x._data.shape)))
    if return_counts:
        out.append(_wrap(np.diff(np.append(starts, f.size)).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


@public
def bincount(input, weights=None, minlength=0):
    """Counts of each non-negative integer value (weighted sums with ``weights``)."""
    x = _t(input, "bincount")
    x._check_concrete("bincount")  # the counts (and their number) come from the values
    if x._data.dtype.kind == "f":
        raise NotImplementedError(
            f"\"bincount_cpu\" not implemented for '{x.dtype}': bincount counts integers; "
            "convert with .long()"
        )
    if x._data.ndim != 1 or x._data.dtype.kind not in "iu":
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if x._data.size and x._data.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    w = None if weights is None else weights._data
    r = np.bincount(x._data, w, minlength)
    if w is None:
        return _wrap(r.astype(np.int64))
    return _wrap(r.astype(w.dtype if w.dtype.kind == "f" else np.float64))


@public
def histc(input, bins=100, min=0, max=0):
    """A histogram of ``bins`` equal bins over [min, max] (the data range when both are 0)."""
    x = _t(input, "histc")
    if not isinstance(bins, (int, np.integer)) or bins <= 0:
        raise RuntimeError(f"histc(): bins must be > 0, but got {bins}")
    return apply(histc_p, (x,), {"bins": int(bins), "lo": float(min), "hi": float(max)})


def _histc_ref(x, bins, lo, hi):
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())  # the data range, at every call
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    return np.histogram(x, bins=bins, range=(lo, hi))[0].astype(x.dtype)


# ops computed by NumPy from the values (a traced step runs them at every call, never bakes
# the capture's result)
histc_p = register("histc", "opaque", _histc_ref, nondiff=True)


@public(method=False)
def searchsorted(sorted_sequence, input, out_int32=False, right=False, side=None, sorter=None):
    """Insertion indices of ``input`` in the last dimension of ``sorted_sequence``."""
    if not isinstance(input, Tensor):
        input = _wrap(np.asarray(input))
    sd = side or ("right" if right else "left")
    dt = np.dtype(np.int32 if out_int32 else np.int64)
    return apply(searchsorted_p, (sorted_sequence, input), {"side": sd, "dtype": dt})


def _searchsorted_ref(seq, vals, side, dtype):
    sd = side
    if seq.ndim == 1:
        r = np.searchsorted(seq, vals, side=sd)
    else:
        r = np.stack(
            [
                np.searchsorted(s, v, side=sd)
                for s, v in zip(seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1]))
            ]
        ).reshape(vals.shape)
    return np.asarray(r, dtype=dtype)


searchsorted_p = register("searchsorted", "opaque", _searchsorted_ref, nondiff=True)


@public(method=False)
def bucketize(input, boundaries, out_int32=False, right=False):
    """Bucket index of each value for the 1-D ``boundaries``."""
    return searchsorted(boundaries, input, out_int32, right)


# ---------------------------------------------------------------- shape helpers ----------
@public
def roll(input, shifts, dims=None):
    """Rotate elements along ``dims`` by ``shifts`` (the flattened tensor when dims is None)."""
    x = _t(input, "roll")
    if dims is None:
        return roll(x.reshape(-1), shifts, 0).reshape(x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}"
        )
    for s, d in zip(shifts, dims):
        d = _wrap_dim(d, x._data.ndim, "roll")
        n = x._data.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            x = V.cat([V.narrow(x, d, n - s, s), V.narrow(x, d, 0, n - s)], d)
    return label(x, "RollBackward0", (input,))


@public
def tile(input, dims):
    """Repeat ``input`` by ``dims`` (padded with leading 1s)."""
    x = _t(input, "tile")
    dims = tuple(dims) if not isinstance(dims, int) else (dims,)
    if len(dims) < x._data.ndim:
        dims = (1,) * (x._data.ndim - len(dims)) + dims
    return V.repeat(x, *dims)


@public
def repeat_interleave(input, repeats=None, dim=None, output_size=None):
    """Repeat each element ``repeats`` times along ``dim`` (the flattened tensor by default)."""
    if repeats is None:  # repeat_interleave(repeats): indices repeated by their counts
        t = _t(input, "repeat_interleave")
        t._check_concrete("repeat_interleave(repeats)")
        r = t._data
        return _idx_tensor(np.repeat(np.arange(r.shape[0]), r))
    x = _t(input, "repeat_interleave")
    if dim is None:
        x, dim = x.reshape(-1), 0
    d = _wrap_dim(dim, x._data.ndim, "repeat_interleave")
    if isinstance(repeats, Tensor):
        repeats._check_concrete("repeat_interleave with tensor repeats")
    reps = repeats._data if isinstance(repeats, Tensor) else repeats
    idx = np.repeat(np.arange(x._data.shape[d]), reps)
    return V.index_select(x, d, _idx_tensor(idx))


@public
def fliplr(input):
    """Flip the columns (dim 1)."""
    return V.flip(input, [1])


@public
def flipud(input):
    """Flip the rows (dim 0)."""
    return V.flip(input, [0])


@public
def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``."""
    d0, d1 = dims
    k %= 4
    if k == 1:
        return V.flip(input, [d1]).transpose(d0, d1)
    if k == 2:
        return V.flip(input, [d0, d1])
    if k == 3:
        return V.flip(input, [d0]).transpose(d0, d1)
    return input * 1


@public(method=False)
def atleast_1d(*tensors):
    """Views with at least one dimension."""
    return _atleast(tensors, 1)


@public(method=False)
def atleast_2d(*tensors):
    """Views with at least two dimensions."""
    return _atleast(tensors, 2)


@public(method=False)
def atleast_3d(*tensors):
    """Views with at least three dimensions."""
    return _atleast(tensors, 3)


def _atleast(tensors, n):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    out = []
    for t in tensors:
        s = t.shape
        if len(s) >= n:
            out.append(t)
        elif n == 3 and len(s) == 2:
            out.append(t.unsqueeze(-1))
        elif n == 3 and len(s) == 1:
            out.append(t.reshape(1, s[0], 1))
        else:
            out.append(t.reshape((1,) * (n - len(s)) + tuple(s)))
    return out[0] if len(out) == 1 else tuple(out)


@public(method=False, out=True)
def hstack(tensors):
    """Concatenate along dim 1 (dim 0 for 1-D tensors)."""
    ts = _atleast(tuple(tensors), 1)
    ts = ts if isinstance(ts, tuple) else (ts,)
    return V.cat(list(ts), 0 if ts[0].ndim == 1 else 1)


@public(method=False, aliases=("row_stack",), out=True)
def vstack(tensors):
    """Concatenate along dim 0 after making every tensor at least 2-D."""
    ts = _atleast(tuple(tensors), 2)
    return V.cat(list(ts if isinstance(ts, tuple) else (ts,)), 0)


row_stack = vstack


@public(method=False, out=True)
def dstack(tensors):
    """Concatenate along dim 2 after making every tensor at least 3-D."""
    ts = _atleast(tuple(tensors), 3)
    return V.cat(list(ts if isinstance(ts, tuple) else (ts,)), 2)


@public(method=False, out=True)
def column_stack(tensors):
    """Stack 1-D tensors as columns (2-D ones are concatenated along dim 1)."""
    ts = [t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors]
    return V.cat(ts, 1)


@public(method=False)
def meshgrid(*tensors, indexing=None):
    """Coordinate grids (``indexing='ij'`` by default, like torch; ``'xy'`` swaps 0 and 1)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn(
            "torch.meshgrid: in an upcoming release, it will be required to pass the indexing "
            "argument.",
            UserWarning,
            stacklevel=2,
        )
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(
            f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}'
        )
    ts = list(tensors)
    if indexing == "xy" and len(ts) >= 2:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.numel() for t in ts)
    n = len(ts)
    out = [
        t.reshape((1,) * i + (-1,) + (1,) * (n - i - 1)).expand(*shape) for i, t in enumerate(ts)
    ]
    if indexing == "xy" and n >= 2:  # grids of the swapped inputs, given back in input order
        out[0], out[1] = out[1], out[0]
    return tuple(out)


@public
def ravel(input):
    """The flattened tensor."""
    return input.reshape(-1)


@public(out=True)
def diff(input, n=1, dim=-1, prepend=None, append=None):
    """``n``-th forward difference along ``dim``."""
    x = _t(input, "diff")
    d = _wrap_dim(dim, x._data.ndim, "diff")
    if prepend is not None or append is not None:
        parts = ([prepend] if prepend is not None else []) + [x]
        parts += [append] if append is not None else []
        x = V.cat(parts, d)
    for _ in range(n):
        m = x._data.shape[d]
        if m == 0:
            break
        a, b = V.narrow(x, d, 1, m - 1), V.narrow(x, d, 0, m - 1)
        x = E.logical_xor(a, b) if x._data.dtype == np.bool_ else a - b
    return x


@public(out=True)
def take(input, index):
    """Elements of the flattened ``input`` at ``index``."""
    return input.reshape(-1)[index]


# ---------------------------------------------------------------- triangles, diagonals ----
def _tri_mask(shape, k, lower):
    r, c = shape[-2], shape[-1]
    m = np.tri(r, c, k, dtype=np.bool_) if lower else ~np.tri(r, c, k - 1, dtype=np.bool_)
    return _wrap(m)


@public(inplace=True, out=True)
def tril(input, diagonal=0):
    """The lower triangle (``j <= i + diagonal``), zeros elsewhere."""
    x = _t(input, "tril")
    if x._data.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    r = E.where(_tri_mask(x._data.shape, diagonal, True), x, _wrap(np.zeros((), x._data.dtype)))
    return label(r, "TrilBackward0", (x,))


@public(inplace=True, out=True)
def triu(input, diagonal=0):
    """The upper triangle (``j >= i + diagonal``), zeros elsewhere."""
    x = _t(input, "triu")
    if x._data.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    r = E.where(_tri_mask(x._data.shape, diagonal, False), x, _wrap(np.zeros((), x._data.dtype)))
    return label(r, "TriuBackward0", (x,))


@public
def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal of the ``dim1`` x ``dim2`` planes, as the last dimension: a view (writes
    into it reach ``input``, as torch's) where those planes flatten without a copy, i.e. a
    strided slice of the flattened planes."""
    x = _t(input, "diagonal")
    nd = x._data.ndim
    a, b = _wrap_dim(dim1, nd, "diagonal"), _wrap_dim(dim2, nd, "diagonal")
    if a == b:
        raise RuntimeError(
            f"diagonal dimensions cannot be identical {dim1}, {dim2} (input shape "
            f"{list(x.shape)}); pass two different dims"
        )
    x = V.movedim(x, (a, b), (nd - 2, nd - 1))
    r, c = x._data.shape[-2], x._data.shape[-1]
    i0, j0 = (0, offset) if offset >= 0 else (-offset, 0)
    n = _bmax(_bmin(r - i0, c - j0), 0)
    st = x._data.strides
    if n > 0 and (r == 1 or c == 1 or st[-2] == c * st[-1]):
        flat = V.reshape(x, tuple(x._data.shape[:-2]) + (r * c,))
        start = i0 * c + j0
        return label(
            flat[..., start : start + (n - 1) * (c + 1) + 1 : c + 1], "DiagonalBackward0", (input,)
        )
    ii = _idx_tensor(np.arange(i0, i0 + n))
    jj = _idx_tensor(np.arange(j0, j0 + n))
    return label(x[(Ellipsis, ii, jj)], "DiagonalBackward0", (input,))


@public
def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Matrices (last two dims) whose ``offset`` diagonal is ``input``'s last dimension."""
    x = _t(input, "diag_embed")
    n = x._data.shape[-1]
    m = n + builtins.abs(offset)
    eye = np.zeros((n, m, m), dtype=x._data.dtype)
    i = np.arange(n)
    eye[i, i + _bmax(-offset, 0), i + _bmax(offset, 0)] = 1
    r = M.matmul(x, _wrap(eye.reshape(n, m * m))).reshape(tuple(x.shape[:-1]) + (m, m))
    if (dim1, dim2) not in ((-2, -1), (r.ndim - 2, r.ndim - 1)):
        r = V.movedim(r, (r.ndim - 2, r.ndim - 1), (dim1, dim2))
    return label(r, "DiagEmbedBackward0", (x,))


@public(out=True)
def diag(input, diagonal=0):
    """A 1-D tensor as a diagonal matrix, or a matrix's diagonal as a 1-D tensor."""
    x = _t(input, "diag")
    if x._data.ndim == 1:
        return label(diag_embed(x, diagonal), "DiagEmbedBackward0", (x,))
    if x._data.ndim == 2:
        return globals()["diagonal"](x, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x._data.ndim}D")


@public
def diagflat(input, offset=0):
    """``diag(input.flatten(), offset)``."""
    return diag_embed(input.reshape(-1), offset)


@public(export=False)
def trace(input):
    """The sum of the main diagonal of a matrix."""
    x = _t(input, "trace")
    if x._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x._data.ndim}")
    return label(R.sum(diagonal(x)), "TraceBackward0", (x,))


# ---------------------------------------------------------------- products ---------------
@public(out=True)
def cross(input, other, dim=None):
    """The 3-vector cross product along ``dim`` (the first dimension of size 3 by default)."""
    a, b = promote("cross", input, other)
    shape = np.broadcast_shapes(a._data.shape, b._data.shape)
    a, b = a.expand(*shape), b.expand(*shape)
    if dim is None:
        dims = [i for i, s in enumerate(shape) if s == 3]
        if not dims:
            raise RuntimeError("no dimension of size 3 in input")
        warnings.warn(
            "Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass "
            "the dim explicitly or simply use torch.linalg.cross.\nThe default value of dim will "
            "change to agree with that of linalg.cross in a future release.",
            UserWarning,
            stacklevel=2,
        )
        dim = dims[0]
    d = _wrap_dim(dim, len(shape), "cross")
    if shape[d] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {a._data.shape[d]} "
            f"and {b._data.shape[d]}"
        )
    a0, a1, a2 = (V.narrow(a, d, i, 1) for i in range(3))
    b0, b1, b2 = (V.narrow(b, d, i, 1) for i in range(3))
    r = V.cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)
    return label(r, "LinalgCrossBackward0", (input, other))


def _einsum_parse(eq, shapes):
    eq = eq.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise RuntimeError(
            "einsum(): more operands were provided than specified in the equation"
            if len(shapes) > len(ins)
            else "einsum(): fewer operands were provided than specified in the equation"
        )
    used = set(c for c in lhs if c.isalpha())
    free = [c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba" if c not in used]
    ell = 0
    for s, sh in zip(ins, shapes):
        if "..." in s:
            ell = _bmax(ell, len(sh) - (len(s) - 3))
    ell_letters = "".join(free[:ell][::-1])
    new_ins = []
    for s, sh in zip(ins, shapes):
        if "..." in s:
            k = len(sh) - (len(s) - 3)
            s = s.replace("...", ell_letters[ell - k :])
        if len(s) != len(sh):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(s)}) does not match "
                f"the number of dimensions ({len(sh)}) for operand {len(new_ins)}"
            )
        new_ins.append(s)
    sizes = {}
    for k, (s, sh) in enumerate(zip(new_ins, shapes)):
        for c, n in zip(s, sh):
            m = sizes.setdefault(c, n)
            if m != n and 1 not in (m, n):
                raise RuntimeError(
                    f"einsum(): operands do not broadcast with remapped shapes: subscript {c} "
                    f"has size {m} and size {n} (operand {k} of shape {list(sh)}, equation "
                    f"{eq!r})"
                )
            if m == 1:
                sizes[c] = n
    if arrow:
        out = out.replace("...", ell_letters)
    else:
        allc = "".join(new_ins)
        out = ell_letters + "".join(
            sorted(c for c in set(allc) if allc.count(c) == 1 and c not in ell_letters)
        )
    for c in out:
        if out.count(c) > 1:
            raise RuntimeError(
                f"einsum(): output subscript {c} appears more than once in the output "
                f"(equation {eq!r})"
            )
        if c not in "".join(new_ins):
            raise RuntimeError(
                f"einsum(): output subscript {c} does not appear in the equation for any input "
                f"operand (equation {eq!r})"
            )
    return new_ins, out


def _einsum_ref(*ops, ins, out):
    return np.asarray(np.einsum(",".join(ins) + "->" + out, *ops, optimize=len(ops) > 2))


def _einsum_vjp(g, o, *ops, ins, out):
    grads = []
    for i, x in enumerate(ops):
        if not x._requires_grad:
            grads.append(None)
            continue
        target = ins[i]
        if len(set(target)) != len(target):
            raise NotImplementedError(
                f"einsum: the gradient for an operand with a repeated subscript ({target!r}) "
                "is not supported"
            )
        others = [ins[j] for j in range(len(ops)) if j != i]
        avail = set(out).union(*others) if others else set(out)
        have = "".join(c for c in target if c in avail)
        sizes = {c: x._data.shape[k] for k, c in enumerate(target)}
        for j, s in enumerate(ins):
            for k, c in enumerate(s):
                sizes.setdefault(c, ops[j]._data.shape[k])
        r = _einsum_apply([out] + others, have, [g] + [ops[j] for j in range(len(ops)) if j != i])
        if have != target:
            r = r.reshape(tuple(sizes[c] if c in have else 1 for c in target))
            r = r.expand(*x._data.shape)
        # a broadcast (size-1) dimension of the operand sums its gradient
        shape = tuple(x._data.shape)
        if tuple(r.shape) != shape:
            from ._common import sum_to

            r = sum_to(r, shape)
        grads.append(r)
    return tuple(grads)


einsum_p = register("einsum", "opaque", _einsum_ref, vjp=_einsum_vjp)


def _einsum_apply(ins, out, ops):
    # broadcast size-1 dimensions the way numpy's einsum does not: expand to the common size
    sizes = {}
    for s, t in zip(ins, ops):
        for c, n in zip(s, t._data.shape):
            if n != 1:
                sizes[c] = n
    fixed = []
    for s, t in zip(ins, ops):
        want = tuple(sizes.get(c, 1) for c in s)
        fixed.append(t if tuple(t._data.shape) == want else t.expand(*want))
    return apply(einsum_p, tuple(fixed), {"ins": tuple(ins), "out": out})


@public(method=False, prim=einsum_p, out=True)
def einsum(equation, *operands):
    """Einstein summation, e.g. ``einsum('ij,jk->ik', a, b)``; differentiable."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ops = promote("einsum", *operands) if len(operands) > 1 else operands
    ins, out = _einsum_parse(equation, [t._data.shape for t in ops])
    return label(_einsum_apply(ins, out, list(ops)), "EinsumBackward0")


@public(method=False, out=True)
def tensordot(a, b, dims=2):
    """Sum over the last ``dims`` axes of ``a`` and the first of ``b`` (or explicit lists)."""
    if isinstance(dims, int):
        da = list(range(a.ndim - dims, a.ndim))
        db = list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    letters = "abcdefghijklmnopqrstuvwxyz"
    sa = list(letters[: a.ndim])
    sb = list(letters[a.ndim : a.ndim + b.ndim])
    for i, j in zip(da, db):
        sb[j] = sa[i]
    out = [c for k, c in enumerate(sa) if k not in da] + [
        c for k, c in enumerate(sb) if k not in db
    ]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


@public(out=True)
def kron(input, other):
    """The Kronecker product."""
    a, b = promote("kron", input, other)
    n = _bmax(a.ndim, b.ndim)
    a = a.reshape((1,) * (n - a.ndim) + tuple(a.shape))
    b = b.reshape((1,) * (n - b.ndim) + tuple(b.shape))
    sa = sum(((s, 1) for s in a.shape), ())
    sb = sum(((1, s) for s in b.shape), ())
    return (a.reshape(sa) * b.reshape(sb)).reshape(tuple(x * y for x, y in zip(a.shape, b.shape)))


@public(out=True)
def inner(input, other):
    """Sum over the last dimensions (a dot product for 1-D tensors)."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    return tensordot(input, other, ([input.ndim - 1], [other.ndim - 1]))


@public
def vdot(input, other):
    """Dot product of two 1-D tensors."""
    return M.dot(input, other)


def _scaled(t, s):
    return t if not isinstance(s, Tensor) and s == 1 else t * s


@public(inplace=True, out=True)
def addmv(input, mat, vec, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat @ vec)``."""
    return _scaled(input, beta) + _scaled(M.mv(mat, vec), alpha)


@public(inplace=True, out=True)
def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """``beta * input + alpha * outer(vec1, vec2)``."""
    return _scaled(input, beta) + _scaled(M.outer(vec1, vec2), alpha)


@public(inplace=True, out=True)
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * bmm(batch1, batch2)``."""
    return label(_scaled(input, beta) + _scaled(M.bmm(batch1, batch2), alpha), "BaddbmmBackward0")


@public(inplace=True, out=True)
def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``."""
    return _scaled(input, beta) + _scaled(R.sum(M.bmm(batch1, batch2), 0), alpha)


@public(method=False)
def chain_matmul(*matrices):
    """``m0 @ m1 @ ...``."""
    r = matrices[0]
    for m in matrices[1:]:
        r = M.mm(r, m)
    return r


@public(method=False, out=True)
def cdist(x1, x2, p=2.0, compute_mode=None):
    """Pairwise p-norm distances between the rows of ``x1`` and ``x2``."""
    d = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    if p == 2:
        return R.root_at_zero_safe(R.sum(d * d, -1))  # gradient 0 at distance 0, as torch
    if p == 1:
        return R.sum(d.abs(), -1)
    if p == math.inf:
        return R.amax(d.abs(), -1)
    return R.sum(d.abs() ** p, -1) ** (1.0 / p)


@public
def dist(input, other, p=2):
    """The p-norm of ``input - other``."""
    return RC.norm(input - other, p)


# ---------------------------------------------------------------- elementwise composites -
@public(inplace=True, out=True)
def frac(input):
    """``input - trunc(input)``."""
    require_float("frac_cpu", _t(input, "frac"))
    return label(input - E.trunc(input).detach(), "FracBackward0", (input,))


@public(out=True)
def logaddexp(input, other):
    """``log(exp(a) + exp(b))`` without overflow."""
    a, b = promote_float("logaddexp", input, other)
    m = E.maximum(a, b).detach()
    return m + E.log(E.exp(a - m) + E.exp(b - m))


@public
def logaddexp2(input, other):
    """``log2(2**a + 2**b)``."""
    return logaddexp(input * math.log(2.0), other * math.log(2.0)) / math.log(2.0)


@public(inplace=True, out=True)
def xlogy(input, other):
    """``input * log(other)``, 0 where ``input`` is 0."""
    a, b = promote_float("xlogy", input, other)
    return E.where(E.eq(a, 0), 0.0, a * E.log(b))


@public(inplace=True, out=True)
def logit(input, eps=None):
    """``log(p / (1 - p))``; ``eps`` clamps p to [eps, 1 - eps]."""
    (x,) = promote_float("logit", input)
    if eps is not None:
        x = E.clamp(x, eps, 1 - eps)
    return E.log(x / (1 - x))


@public(inplace=True, out=True)
def erfc(input):
    """``1 - erf(input)``."""
    return 1 - E.erf(input)


def _special(name, ref, dref):
    prim = register(
        name, "opaque", ref, vjp=lambda g, o, x: (g * apply(dref, (x,)),) if dref else None
    )

    def fn(input):
        (x,) = promote_float(name, _t(input, name))
        return apply(prim, (x,))

    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} (SciPy's)."
    fn.prim = prim
    return fn


def _no_higher(name):
    def vjp(g, o, *x, **params):
        raise NotImplementedError(f"the derivative of {name} is not implemented in jitgrad")

    return vjp


def _keep(fn):
    def ref(x):
        r = fn(x)
        return r.astype(x.dtype) if r.dtype != x.dtype else r

    return ref


_trigamma_p = register(
    "trigamma", "opaque", _keep(lambda x: _sp.polygamma(1, x)), vjp=_no_higher("trigamma")
)
digamma = _special("digamma", _keep(_sp.psi), _trigamma_p)
lgamma = _special("lgamma", _keep(_sp.gammaln), digamma.prim)
public(digamma, out=True, inplace=True, prim=digamma.prim)
public(lgamma, out=True, inplace=True, prim=lgamma.prim)
_erfinv_prim = register(
    "erfinv",
    "opaque",
    _keep(_sp.erfinv),
    vjp=lambda g, o, x: (g * E.exp(o * o) * (math.sqrt(math.pi) / 2),),
    saves=(),
    saves_out=True,
)


@public(inplace=True, out=True)
def erfinv(input):
    """The inverse error function."""
    (x,) = promote_float("erfinv", _t(input, "erfinv"))
    return apply(_erfinv_prim, (x,))


@public(inplace=True, out=True)
def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """Replace NaN and +-inf by finite numbers (the dtype's max/min by default)."""
    x = _t(input, "nan_to_num")
    if x._data.dtype.kind != "f":
        return x.clone()
    fi = np.finfo(x._data.dtype)
    pi = float(fi.max) if posinf is None else posinf
    ni = float(fi.min) if neginf is None else neginf
    r = E.where(E.isnan(x), nan, x)
    r = E.where(E.eq(r, math.inf), pi, r)
    return E.where(E.eq(r, -math.inf), ni, r)


@public(inplace=True, out=True)
def fmax(input, other):
    """``maximum`` that ignores NaN."""
    a, b = promote("fmax", input, other)
    return E.where(E.isnan(a), b, E.where(E.isnan(b), a, E.maximum(a, b)))


@public(inplace=True, out=True)
def fmin(input, other):
    """``minimum`` that ignores NaN."""
    a, b = promote("fmin", input, other)
    return E.where(E.isnan(a), b, E.where(E.isnan(b), a, E.minimum(a, b)))


@public(inplace=True, out=True)
def hypot(input, other):
    """``sqrt(a**2 + b**2)``."""
    require_float("hypot_cpu", _t(input, "hypot"))
    return E.sqrt(input * input + other * other)


@public(inplace=True, out=True)
def deg2rad(input):
    """Degrees to radians."""
    return input * (math.pi / 180)


@public(inplace=True, out=True)
def rad2deg(input):
    """Radians to degrees."""
    return input * (180 / math.pi)


@public(inplace=True, out=True)
def sgn(input):
    """``sign`` (for real tensors)."""
    return E.sign(input)


@public
def signbit(input):
    """True where the sign bit is set."""
    return apply(signbit_p, (_t(input, "signbit"),))


signbit_p = register("signbit", "opaque", np.signbit, nondiff=True)


@public(inplace=True)
def heaviside(input, values):
    """0 for x < 0, ``values`` at 0, 1 for x > 0."""
    return E.where(E.eq(input, 0), values, (input > 0).to(input.dtype))


@public(inplace=True, out=True)
def copysign(input, other):
    """``|input|`` with the sign of ``other``."""
    a, b = promote_float("copysign", input, other)
    out = E.where(apply(signbit_p, (b,)), -E.abs(a), E.abs(a))
    if b._requires_grad:  # PyTorch gives ``other`` a zero gradient, not None
        out = E.where(_wrap(np.zeros((), np.bool_)), b, out)
    return label(out, "CopysignBackward0", (a, b) if isinstance(other, Tensor) else (a,))


@public(inplace=True)
def float_power(input, exponent):
    """``input ** exponent`` in float64."""
    a = input.double() if isinstance(input, Tensor) else input
    b = exponent.double() if isinstance(exponent, Tensor) else exponent
    return E.pow(a, b)


@public
def positive(input):
    """``input`` itself."""
    return input


@public(inplace=True)
def gcd(input, other):
    """Elementwise greatest common divisor of integer tensors."""
    return _int_pair(gcd_p, input, other)


def _int_pair(prim, a, b):
    if not isinstance(b, Tensor):
        b = _wrap(np.asarray(b, dtype=a._data.dtype))
    return apply(prim, (a, b))


gcd_p = register("gcd", "opaque", np.gcd, nondiff=True)
lcm_p = register("lcm", "opaque", np.lcm, nondiff=True)


@public(inplace=True)
def lcm(input, other):
    """Elementwise least common multiple of integer tensors."""
    return _int_pair(lcm_p, input, other)


@public
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|a - b| <= atol + rtol * |b|`` elementwise (infinities equal to themselves)."""
    a, b = promote("isclose", input, other)
    return apply(isclose_p, (a, b), {"rtol": rtol, "atol": atol, "equal_nan": equal_nan})


def _isclose_ref(a, b, rtol, atol, equal_nan):
    return np.asarray(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


isclose_p = register("isclose", "opaque", _isclose_ref, nondiff=True)
isin_p = register(
    "isin", "opaque", lambda e, te, invert: np.asarray(np.isin(e, te, invert=invert)), nondiff=True
)


@public
def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element is ``isclose``."""
    r = isclose(input, other, rtol, atol, equal_nan)
    r._check_concrete("allclose")  # a Python bool from the values
    return bool(r._data.all())


@public
def equal(input, other):
    """True when both tensors have the same shape and elements."""
    if tuple(input.shape) != tuple(other.shape):
        return False
    for t in (input, other):
        t._check_concrete("equal")  # a Python bool from the values
    return bool(np.array_equal(input._data, other._data))


@public(axis=True)
def count_nonzero(input, dim=None):
    """The number of non-zero elements (over ``dim``)."""
    return R.sum(E.ne(input, 0).long(), dim) if dim is not None else R.sum(E.ne(input, 0).long())


@public
def aminmax(input, *, dim=None, keepdim=False):
    """``(amin, amax)`` in one call."""
    if dim is None:
        return return_types.aminmax(R.amin(input), R.amax(input))
    return return_types.aminmax(R.amin(input, dim, keepdim), R.amax(input, dim, keepdim))


@public(inplace=True, axis=True, out=True)
def cumprod(input, dim, dtype=None):
    """Cumulative product along ``dim``; the gradient is exact at zeros too."""
    x = _t(input, "cumprod")
    if dtype is not None:
        x = x.to(dtype)
    elif x._data.dtype.kind in "biu":
        x = x.long()
    d = _wrap_dim(dim, x._data.ndim, "cumprod")
    return apply(cumprod_p, (x,), {"dim": d})


def _cumprod_grad_ref(g, x, dim):
    # grad_i = sum_{j>=i} g_j prod_{k<=j, k!=i} x_k = E_i * S_i, with the exclusive prefix
    # product E_i and the reverse recurrence S_i = g_i + x_{i+1} S_{i+1}: no division by x
    xm, gm = np.moveaxis(x, dim, 0), np.moveaxis(g, dim, 0)
    n = xm.shape[0]
    ex = np.ones_like(xm)
    if n > 1:
        ex[1:] = np.cumprod(xm[:-1], axis=0)
    s = np.empty_like(gm)
    acc = np.zeros_like(gm[0]) if n else None
    for i in range(n - 1, -1, -1):
        acc = gm[i] + (xm[i + 1] * acc if i + 1 < n else 0)
        s[i] = acc
    return np.moveaxis(ex * s, 0, dim)


_cumprod_grad_p = register(
    "cumprod_backward", "opaque", _cumprod_grad_ref, vjp=_no_higher("cumprod's backward")
)
cumprod_p = register(
    "cumprod",
    "opaque",
    lambda x, dim: np.cumprod(x, axis=dim),
    vjp=lambda g, o, x, dim: (apply(_cumprod_grad_p, (g, x), {"dim": dim}),),
    saves=(0,),
)


@public
def cummax(input, dim):
    """Running maximum along ``dim`` and the index where it was reached."""
    return _cumext(input, dim, np.maximum, "cummax")


@public
def cummin(input, dim):
    """Running minimum along ``dim`` and the index where it was reached."""
    return _cumext(input, dim, np.minimum, "cummin")


def _cumext_index(x, dim, is_max):
    """Where the running max/min along ``dim`` was reached (the last such index on ties). A
    NaN takes over and stays (the last NaN), as torch: the running value is NaN from there."""
    fn = np.maximum if is_max else np.minimum
    xm = np.moveaxis(x, dim, 0)
    idx = np.zeros(xm.shape, np.int64)
    best = xm[0].copy() if xm.shape[0] else None
    for i in range(1, xm.shape[0]):
        with np.errstate(invalid="ignore"):
            better = fn(xm[i], best) == xm[i]
        if xm.dtype.kind == "f":
            better = np.isnan(xm[i]) | (better & ~np.isnan(best))
        idx[i] = np.where(better, i, idx[i - 1])
        best = np.where(better, xm[i], best)
    return np.ascontiguousarray(np.moveaxis(idx, 0, dim))


cumext_index_p = register("cumext_index", "opaque", _cumext_index, nondiff=True)


def _cumext(input, dim, fn, op):
    x = _t(input, op)
    d = _wrap_dim(dim, x._data.ndim, op)
    ind = apply(cumext_index_p, (x,), {"dim": d, "is_max": op == "cummax"})
    import collections

    rt = collections.namedtuple(op, ["values", "indices"])
    return rt(V.gather(x, d, ind), ind)


@public
def logcumsumexp(input, dim):
    """``log(cumsum(exp(input)))`` computed stably."""
    require_float("logcumsumexp_out_cpu", _t(input, "logcumsumexp"))
    # the shift: the largest finite value (0 where none), so -inf gives -inf, inf gives inf
    # and a NaN gives NaN from its position on, as torch (the max itself made them all NaN)
    fin = E.isfinite(input)
    m = R.amax(E.where(fin, input, -math.inf), dim, keepdim=True).detach()
    m = E.where(E.isfinite(m), m, 0.0)
    return E.log(R.cumsum(E.exp(input - m), dim)) + m


@public(inplace=True, out=True)
def clamp_min(input, min):
    """``clamp(input, min=min)``."""
    return E.clamp(input, min=min)


@public(inplace=True, out=True)
def clamp_max(input, max):
    """``clamp(input, max=max)``."""
    return E.clamp(input, max=max)


@public(method=False)
def result_type(tensor1, tensor2):
    """The dtype PyTorch's promotion gives for two operands."""
    ops = [t._data if isinstance(t, Tensor) else t for t in (tensor1, tensor2)]
    return _dtype._FROM_NP[np.dtype(_dtype.result_type(*ops))]


@public(method=False)
def promote_types(type1, type2):
    """The smallest dtype both ``type1`` and ``type2`` promote to."""
    return _dtype._FROM_NP[_dtype._join(_dtype.to_np(type1), _dtype.to_np(type2))]


@public(method=False)
def can_cast(from_, to):
    """True when PyTorch's casting rules allow ``from_`` -> ``to`` (no category demotion)."""
    a, b = _dtype.canon(from_), _dtype.canon(to)
    return a._cat <= b._cat


@public(inplace=True, aliases=("arccosh",))
def acosh(input):
    """Inverse hyperbolic cosine: ``log(x + sqrt(x^2 - 1))``."""
    (x,) = promote_float("acosh", _t(input, "acosh"))
    return E.log(x + E.sqrt(x * x - 1))


@public(inplace=True, aliases=("arcsinh",))
def asinh(input):
    """Inverse hyperbolic sine: ``sign(x) log(|x| + sqrt(x^2 + 1))`` (stable for x < 0)."""
    (x,) = promote_float("asinh", _t(input, "asinh"))
    a = E.abs(x)
    return E.sign(x) * E.log(a + E.sqrt(a * a + 1))


@public(inplace=True, aliases=("arctanh",))
def atanh(input):
    """Inverse hyperbolic tangent: ``0.5 log((1 + x) / (1 - x))``."""
    (x,) = promote_float("atanh", _t(input, "atanh"))
    return 0.5 * (E.log1p(x) - E.log1p(-x))


@public(inplace=True)
def sinc(input):
    """``sin(pi x) / (pi x)``, 1 at 0."""
    (x,) = promote_float("sinc", _t(input, "sinc"))
    px = x * math.pi
    zero = E.eq(x, 0)
    return E.where(zero, 1.0, E.sin(px) / E.where(zero, 1.0, px))


@public
def argwhere(input):
    """Indices of the non-zero elements, one row each."""
    return V.nonzero(input)


@public
def isposinf(input):
    """True at +inf."""
    return E.eq(input, math.inf) if input.is_floating_point() else E.ne(input, input)


@public
def isneginf(input):
    """True at -inf."""
    return E.eq(input, -math.inf) if input.is_floating_point() else E.ne(input, input)


@public
def isreal(input):
    """True everywhere (jitgrad tensors are real)."""
    return _wrap(np.ones(input._data.shape, dtype=np.bool_))


def _quantile(input, q, dim, keepdim, interpolation, name):
    """``quantile`` / ``nanquantile`` (``name``): the sorted values (NaN last, as torch's sort)
    read at q * (n - 1), n the slice's length (``quantile``: a slice holding a NaN gives NaN)
    or its count of non-NaN values (``nanquantile``: an all-NaN slice gives NaN). Tensor ops
    only, so a traced step computes the same for every input (no branch on the values)."""
    x = _t(input, name)
    if x._data.dtype.kind != "f":
        raise RuntimeError(
            f"{name}() input tensor must be either float or double dtype (got {x.dtype}); "
            "convert with .float()"
        )
    if interpolation not in ("linear", "lower", "higher", "nearest", "midpoint"):
        raise RuntimeError(
            f"{name}() interpolation must be one of linear, lower, higher, midpoint or "
            f"nearest, but got {interpolation}"
        )
    kept = None  # dim=None with keepdim: every dim of the input kept as 1, as torch
    if dim is None:
        kept = (1,) * x._data.ndim if keepdim else None
        x, dim = x.reshape(-1), 0
    d = _wrap_dim(dim, x._data.ndim, name)
    qs = (
        q._data.reshape(-1).tolist()
        if isinstance(q, Tensor)
        else ([q] if isinstance(q, (int, float)) else list(q))
    )
    n = x._data.shape[d]
    if x._data.size == 0:
        raise RuntimeError(f"{name}() input tensor must be non-empty (got shape {tuple(x.shape)})")
    s = sort(x, d).values
    nan_at = E.isnan(x)
    if name == "nanquantile":  # per slice: the count of values, as a float tensor (keepdim)
        last = R.sum(E.logical_not(nan_at), d, keepdim=True).to(x.dtype) - 1
    else:
        has_nan = R.any(nan_at, d, keepdim=True)
    outs = []
    for qq in qs:
        if not 0 <= qq <= 1:
            raise RuntimeError(f"{name}() q must be in the range [0, 1] but got {qq}")
        if name == "nanquantile":
            pos = E.clamp(last * qq, 0, None)  # an all-NaN slice: 0 (its sorted values: NaN)
            lo, hi = E.floor(pos), E.ceil(pos)
            a = V.gather(s, d, lo.to(_dtype.int64))
            b = V.gather(s, d, hi.to(_dtype.int64))
            frac_ = pos - lo
            near = E.round(pos).to(_dtype.int64)  # half to even, as torch
        else:
            pos = qq * (n - 1)
            lo, hi = int(math.floor(pos)), int(math.ceil(pos))
            a = V.select(s, d, lo).unsqueeze(d)
            b = V.select(s, d, hi).unsqueeze(d)
            frac_ = pos - lo
            near = builtins.round(pos)  # half to even, as torch
        if interpolation == "lower":
            r = a
        elif interpolation == "higher":
            r = b
        elif interpolation == "nearest":
            r = V.gather(s, d, near) if name == "nanquantile" else V.select(s, d, near).unsqueeze(d)
        elif interpolation == "midpoint":
            r = (a + b) * 0.5
        else:
            r = a + (b - a) * frac_
        if name == "quantile":
            r = E.where(has_nan, math.nan, r)
        outs.append(r.reshape(kept) if kept is not None else r if keepdim else r.squeeze(d))
    scalar_q = not isinstance(q, (list, tuple)) and not (isinstance(q, Tensor) and q.ndim)
    return outs[0] if scalar_q else V.stack(outs, 0)


@public
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The ``q``-quantile(s) along ``dim`` (all values when None), interpolated between the
    sorted values as ``interpolation`` says; a slice holding a NaN gives NaN."""
    return _quantile(input, q, dim, keepdim, interpolation, "quantile")


@public
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """``quantile`` ignoring NaN: each slice's quantile over its non-NaN values (NaN when it
    has none)."""
    return _quantile(input, q, dim, keepdim, interpolation, "nanquantile")


@public
def cov(input, *, correction=1, fweights=None, aweights=None):
    """Covariance matrix of the rows (variables) of ``input`` over its columns."""
    if fweights is not None or aweights is not None:
        raise NotImplementedError("cov: fweights/aweights are not supported by jitgrad")
    x = input if input.ndim == 2 else input.reshape(1, -1)
    n = x.shape[1]
    xc = x - R.mean(x, 1, keepdim=True)
    c = M.matmul(xc, xc.transpose(0, 1)) / _bmax(n - correction, 0)
    return c if input.ndim == 2 else c.reshape(())


@public
def corrcoef(input):
    """Pearson correlation matrix of the rows of ``input``."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = E.sqrt(diagonal(c))
    return E.clamp(c / d.unsqueeze(0) / d.unsqueeze(1), -1, 1)


@public(method=False)
def poisson(input, generator=None):
    """Poisson samples with rates ``input``."""
    from .._grad_mode import STATE
    from ..creation import default_generator
    from ..tensor import TraceError

    if STATE.tracer is not None:  # its draws are not replayed: a compiled call would freeze them
        raise TraceError(
            "poisson inside a traced step: its samples depend on the rates and are not "
            "replayed by the compiled step (it would return the capture's samples); draw them "
            "outside the traced function and pass them in, or remove @jitgrad.trace"
        )
    rng = (generator or default_generator)._rng
    return _wrap(rng.poisson(input._data).astype(input._data.dtype))
