"""More PyTorch ops tutorials use: ``i0``/``i1``, ``renorm``, ``nanmedian``, ``scatter_reduce``.

Composites of the existing primitives where that is exact; three opaque primitives (the
Bessel functions and the scatter max/min/prod forward) where it is not. Functions, Tensor
methods and in-place forms come from the ``public`` declarations.
"""

import numpy as np
import scipy.special as _sp

from .. import return_types
from .._grad_mode import STATE
from ..tensor import Tensor, _wrap, _wrap_dim
from . import composite as C
from . import composite_reduce as RC
from . import elementwise as E
from . import movement as V
from . import reduce as R
from ._common import promote_float
from .registry import apply, public, register


def _t(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    return x


# ---------------------------------------------------------------- modified Bessel ---------
def _i1_grad(g, o, x):
    # d/dx I1(x) = I0(x) - I1(x)/x, 1/2 at x = 0 (the masked branch keeps the VJP free of 0/0)
    zero = E.eq(x, 0)
    safe = E.where(zero, 1.0, x)
    return (g * E.where(zero, 0.5, apply(i0_p, (x,)) - o / safe),)


def _keep(fn):
    def ref(x):
        r = fn(x)
        return r.astype(x.dtype) if r.dtype != x.dtype else r

    return ref


i1_p = register("i1", "opaque", _keep(_sp.i1), vjp=_i1_grad, saves_out=True)
i0_p = register("i0", "opaque", _keep(_sp.i0), vjp=lambda g, o, x: (g * apply(i1_p, (x,)),))


@public(inplace=True, out=True)
def i0(input):
    """The modified Bessel function of the first kind, order 0 (its gradient is ``i1``)."""
    (x,) = promote_float("i0", _t(input, "i0"))
    return apply(i0_p, (x,))


def i1(input):
    """The modified Bessel function of the first kind, order 1."""
    (x,) = promote_float("i1", _t(input, "i1"))
    return apply(i1_p, (x,))


# ---------------------------------------------------------------- renorm ------------------
@public(inplace=True, out=True)
def renorm(input, p, dim, maxnorm):
    """Each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` rescaled to ``maxnorm``."""
    x = _t(input, "renorm")
    if x._data.ndim < 2:
        raise RuntimeError(
            f"renorm: input needs at least 2 dimensions, got {x._data.ndim} dimensions"
        )
    d = _wrap_dim(dim, x._data.ndim, "renorm")
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"renorm: expected a floating-point input, got {x.dtype}")
    others = tuple(i for i in range(x._data.ndim) if i != d)
    norm = RC.norm(x, p, others, True)
    factor = E.where(norm > maxnorm, maxnorm / (norm + 1e-7), 1.0)
    return x * factor


# ---------------------------------------------------------------- nanmedian ---------------
@public(axis=True, out=True)
def nanmedian(input, dim=None, keepdim=False):
    """The lower median ignoring NaN (NaN where all are NaN); with ``dim``,
    ``(values, indices)``."""
    x = _t(input, "nanmedian")
    if dim is None:
        f = x.reshape(-1)
        if f._data.shape[0] == 0:
            return x.new_full((), float("nan"))
        k = _nan_rank(f, 0)
        return V.gather(f, 0, V.gather(C.argsort(f, 0), 0, k)).reshape(())
    d = _wrap_dim(dim, x._data.ndim, "nanmedian")
    if x._data.ndim == 0:
        return return_types.nanmedian(x.clone(), _wrap(np.zeros((), np.int64)))
    k = _nan_rank(x, d)
    idx = V.gather(C.argsort(x, d), d, k)
    vals = V.gather(x, d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return return_types.nanmedian(vals, idx)


def _nan_rank(x, d):
    """Sorted position of the lower median of the non-NaN values along ``d`` (NaN sorts
    last), kept as a length-1 axis; 0 where all are NaN."""
    ok = R.sum(E.logical_not(E.isnan(x)).long(), d, keepdim=True)
    return E.clamp((ok - 1) // 2, 0, None)


# ---------------------------------------------------------------- scatter_reduce ----------
_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _ident(dtype, reduce):
    if reduce == "prod":
        return 1
    if dtype.kind == "f":
        return -np.inf if reduce == "amax" else np.inf
    if dtype.kind == "b":
        return reduce == "amin"
    info = np.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def _scatter_reduce_ref(base, index, src, dim, reduce, include_self):
    grids = list(np.indices(index.shape, sparse=True))
    grids[dim] = index
    grids = tuple(grids)
    out = base.copy()
    if not include_self:
        out[grids] = _ident(base.dtype, reduce)
    {"prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce].at(out, grids, src)
    return out


scatter_reduce_p = register("scatter_reduce", "opaque", _scatter_reduce_ref, nondiff=True)


def _prod_surrogate(x, index, s, out, hit, attrs, xg, sg):
    """``e.detach() - e`` for reduce='prod', ``e`` linear in ``xg``/``sg`` with PyTorch's
    first-order gradient: ``out / self`` and ``out / src``, the product of the others where a
    single zero meets its slot (torch's exclusive products; several zeros give 0)."""
    d = attrs["dim"]
    self0 = E.eq(x, 0.0)
    a_self = apply(scatter_reduce_p, (E.where(self0, 1.0, x), index, s), attrs) / E.where(
        self0, 1.0, x
    )
    if not attrs["include_self"]:
        a_self = E.where(hit, 0.0, a_self)
    src0 = E.eq(s, 0.0)
    zero = _wrap(np.zeros(x._data.shape, x._data.dtype))
    zeros = V.scatter_add(zero, d, index, src0.to(x.dtype))
    single = E.logical_and(src0, E.eq(V.gather(zeros, d, index), 1.0))
    excl = apply(scatter_reduce_p, (x, index, E.where(single, 1.0, s)), attrs)
    a_src = E.where(
        single, V.gather(excl, d, index), V.gather(out, d, index) / E.where(src0, 1.0, s)
    )
    e = xg * a_self + V.scatter_add(zero, d, index, sg * a_src)
    diff = e.detach() - e
    return E.where(E.isfinite(diff), diff, 0.0)


@public(inplace=True, out=True)
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """``input`` with ``src`` reduced into the positions ``index`` names along ``dim``
    (sum, prod, mean, amax, amin; ``include_self`` counts ``input``'s own value)."""
    x = _t(input, "scatter_reduce")
    if reduce not in _REDUCES:
        raise RuntimeError(
            f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}"
        )
    if not isinstance(src, Tensor):
        raise TypeError(
            f"scatter_reduce(): argument 'src' must be Tensor, not {type(src).__name__}"
        )
    if src._data.dtype != x._data.dtype:
        raise RuntimeError(
            f"scatter_reduce(): Expected self.dtype to be equal to src.dtype (got {x.dtype} and "
            f"{src.dtype}); convert one with .to()"
        )
    d = V._check_index("scatter_reduce", x, dim, index)
    index = index.long()
    ish, ssh = index._data.shape, src._data.shape
    if len(ssh) != len(ish) or any(a > b for a, b in zip(ish, ssh)):
        raise RuntimeError(
            f"scatter_reduce(): Expected index {list(ish)} to be smaller size than src "
            f"{list(ssh)} (and with as many dimensions)"
        )
    s = src if ssh == ish else src[tuple(slice(0, n) for n in ish)]
    dt = x._data.dtype
    ones = _wrap(np.ones(ish, dt if dt.kind == "f" else np.int64))
    cnt = V.scatter_add(_wrap(np.zeros(x._data.shape, ones._data.dtype)), d, index, ones)
    hit = cnt > 0
    if reduce in ("sum", "mean"):
        base = x if include_self else E.where(hit, 0, x)
        total = V.scatter_add(base, d, index, s)
        if reduce == "sum":
            return total
        denom = cnt + 1 if include_self else E.where(hit, cnt, 1)
        if dt.kind == "f":
            return total / denom
        return (total // denom).to(x.dtype)
    grad = STATE.enabled and (x._requires_grad or s._requires_grad)
    attrs = {"dim": d, "reduce": reduce, "include_self": include_self}
    out = apply(scatter_reduce_p, (x, index, s), attrs)
    if not grad or dt.kind != "f":
        return out
    if reduce == "prod":
        return out - _prod_surrogate(x.detach(), index, s.detach(), out.detach(), hit, attrs, x, s)
    # the gradient PyTorch gives: shared evenly among the values equal to the result (self's
    # own only where it takes part, though PyTorch counts it in the share even when
    # include_self=False); ``out - (e.detach() - e)`` keeps out's value bit for bit
    value = V.gather(out, d, index)
    self_is = E.eq(x, out)
    src_is = E.eq(s, value)
    n = V.scatter_add(self_is.to(x.dtype), d, index, src_is.to(x.dtype))
    n = E.where(n > 0, n, 1.0)
    own = self_is if include_self else E.logical_and(self_is, E.logical_not(hit))
    e = E.where(own, x, 0.0) / n + V.scatter_add(
        _wrap(np.zeros(x._data.shape, dt)),
        d,
        index,
        E.where(src_is, s, 0.0) / V.gather(n, d, index),
    )
    diff = e.detach() - e
    return out - E.where(E.isfinite(diff), diff, 0.0)
