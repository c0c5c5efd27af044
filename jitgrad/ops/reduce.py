"""Reduction primitives (sum, amax, prod, argmax, any, cumsum) and their thin wrappers
(mean, max/min with indices); the composites built on them are in ``composite_reduce.py``."""

import builtins
import collections

import numpy as np

from .. import _dtype
from .._errors import IndexRuntimeError
from ..tensor import Tensor, _wrap_dim
from ._common import norm_dims, to_tensor
from .registry import apply, label, public, register


def _keep_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _regrow(g, x, dims, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdim:
        g = g.reshape(_keep_shape(x._data.shape, dims))
    return g.expand(x._data.shape)


def _sum_ref(x, dims, keepdim):
    dt = x.dtype if x.dtype.kind == "f" else np.int64
    return np.sum(x, axis=dims, keepdims=keepdim, dtype=dt)


sum_p = register(
    "sum",
    "reduce",
    _sum_ref,
    vjp=lambda g, o, x, dims, keepdim: (_regrow(g, x, dims, keepdim),),
    saves=(),
)


def _amax_vjp(g, o, x, dims, keepdim):
    ok = o if keepdim else o.reshape(_keep_shape(x._data.shape, dims))
    gk = g if keepdim else g.reshape(ok._data.shape)
    mask = (x == ok).to(g._data.dtype)
    return (gk * mask / mask.sum(dims, keepdim=True),)


def _amax_ref(x, dims, keepdim):
    return np.amax(x, axis=dims, keepdims=keepdim)


def _amin_ref(x, dims, keepdim):
    return np.amin(x, axis=dims, keepdims=keepdim)


amax_p = register("amax", "reduce", _amax_ref, vjp=_amax_vjp, saves=(0,), saves_out=True)
amin_p = register("amin", "reduce", _amin_ref, vjp=_amax_vjp, saves=(0,), saves_out=True)


def _prod_vjp(g, o, x, dims, keepdim):
    """d prod / dx_i = the product of the other elements, exact where x has zeros (torch's
    rule): o / x without zeros, the product of the non-zeros at a single zero, else 0."""
    from .elementwise import where

    gk = g if keepdim else g.reshape(_keep_shape(x._data.shape, dims))
    zero = x == 0
    xs = where(zero, 1.0, x)
    nz = apply(prod_p, (xs,), {"dims": dims, "keepdim": True})  # product of the non-zeros
    zeros = apply(sum_p, (zero.to(x.dtype),), {"dims": dims, "keepdim": True})
    others = where(zeros == 0, nz / xs, where(zero & (zeros == 1), nz, 0.0))
    return (gk * others,)


prod_p = register(
    "prod",
    "reduce",
    lambda x, dims, keepdim: np.prod(
        x, axis=dims, keepdims=keepdim, dtype=x.dtype if x.dtype.kind == "f" else np.int64
    ),
    vjp=_prod_vjp,
    saves=(0,),
    saves_out=True,
)
argmax_p = register(
    "argmax",
    "reduce",
    lambda x, dim, keepdim: np.argmax(x, axis=dim, keepdims=keepdim),
    nondiff=True,
)
argmin_p = register(
    "argmin",
    "reduce",
    lambda x, dim, keepdim: np.argmin(x, axis=dim, keepdims=keepdim),
    nondiff=True,
)
any_p = register(
    "any", "reduce", lambda x, dims, keepdim: np.any(x, axis=dims, keepdims=keepdim), nondiff=True
)
all_p = register(
    "all", "reduce", lambda x, dims, keepdim: np.all(x, axis=dims, keepdims=keepdim), nondiff=True
)


def _check(ok, message, error):
    if not np.all(ok):
        raise getattr(builtins, error)(message)
    return np.array(ok, dtype=bool)


# a value check that raises (``require``): kept by dead-code elimination, and no state is
# written before it (``may_raise``), so a failing compiled call leaves everything untouched
check_p = register("check", "opaque", _check, nondiff=True, may_raise=True, effect=True)


def require(ok, message, error="RuntimeError"):
    """Under ``jitgrad.trace``: every compiled call checks that the bool tensor ``ok`` is all
    true and raises ``error(message)`` otherwise, before it writes any state (the call that
    fails then runs eagerly, so the user sees eager mode's own error). Library code makes its
    eager check in Python first (with the offending value in the message); outside a trace
    this does nothing."""
    from .._trace_hooks import is_tracing

    if is_tracing():
        apply(check_p, (ok,), {"message": message, "error": error})


def _reduce(prim, op, input, dim, keepdim, empty_ok=True):
    x = to_tensor(input, op)
    dims = norm_dims(dim, x._data.ndim, op)
    if not empty_ok and x._data.size == 0 and (dim is None or x._data.ndim == 0):
        raise IndexRuntimeError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
            f"Specify the reduction dim with the 'dim' argument (input shape "
            f"{tuple(x._data.shape)})"
            if dim is None
            else f"{op}(): Expected reduction dim {dim} to have non-zero size "
            f"(input shape {tuple(x._data.shape)})"
        )
    if not empty_ok and builtins.any(x._data.shape[d] == 0 for d in dims):
        raise IndexRuntimeError(
            f"{op}(): Expected reduction dim {dim} to have non-zero size "
            f"(input shape {tuple(x._data.shape)}); reduce over a non-empty dimension"
        )
    return apply(prim, (x,), {"dims": dims, "keepdim": bool(keepdim)})


@public(axis=True, prim=sum_p, out=True)
def sum(input, dim=None, keepdim=False, dtype=None):
    """Sum over ``dim`` (int, tuple or None for all)."""
    r = _reduce(sum_p, "sum", input, dim, keepdim)
    if dim is not None:
        label(r, "SumBackward1")
    return r if dtype is None else r.to(dtype)


@public(axis=True, out=True)
def mean(input, dim=None, keepdim=False, dtype=None):
    """Mean over ``dim``; floating inputs only, like torch."""
    x = to_tensor(input, "mean")
    if dtype is not None:
        x = x.to(dtype)
    if x._data.dtype.kind != "f":
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {x.dtype.name.capitalize()}; use x.float().mean()"
        )
    dims = norm_dims(dim, x._data.ndim, "mean")
    n = 1
    for d in dims:
        n *= x._data.shape[d]
    s = apply(sum_p, (x,), {"dims": dims, "keepdim": bool(keepdim)})
    r = s / n if n else s * float("nan")
    return label(r, "MeanBackward0" if dim is None else "MeanBackward1", (x,))


@public(axis=True, prim=amax_p, out=True)
def amax(input, dim=(), keepdim=False):
    return _reduce(amax_p, "amax", input, None if dim == () else dim, keepdim, empty_ok=False)


@public(axis=True, prim=amin_p, out=True)
def amin(input, dim=(), keepdim=False):
    return _reduce(amin_p, "amin", input, None if dim == () else dim, keepdim, empty_ok=False)


@public(axis=True, prim=prod_p, out=True)
def prod(input, dim=None, keepdim=False, dtype=None):
    r = _reduce(prod_p, "prod", input, dim, keepdim)
    return r if dtype is None else r.to(dtype)


@public(axis=True, prim=any_p)
def any(input, dim=None, keepdim=False):
    return _uint8_kept(input, _reduce(any_p, "any", input, dim, keepdim))


@public(axis=True, prim=all_p)
def all(input, dim=None, keepdim=False):
    return _uint8_kept(input, _reduce(all_p, "all", input, dim, keepdim))


def _uint8_kept(input, r):
    """any/all of a uint8 tensor are uint8 (0/1) in torch, bool otherwise."""
    u8 = isinstance(input, Tensor) and input._data.dtype == np.uint8
    return r.to(_dtype.uint8) if u8 else r


def _arg(prim, op, input, dim, keepdim):
    x = to_tensor(input, op)
    if x._data.size == 0 and (dim is None or x._data.ndim == 0):
        raise IndexRuntimeError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0 "
            f"(input shape {tuple(x._data.shape)}); pass dim= over a non-empty dimension"
        )
    if (
        dim is not None
        and x._data.size == 0
        and x._data.shape[_wrap_dim(dim, x._data.ndim, op)] == 0
    ):
        raise IndexRuntimeError(
            f"{op}(): Expected reduction dim {dim} to have non-zero size "
            f"(input shape {tuple(x._data.shape)})"
        )
    if dim is None:
        r = apply(prim, (x.reshape(-1),), {"dim": 0, "keepdim": False})
        return r.reshape((1,) * x._data.ndim) if keepdim else r
    d = _wrap_dim(dim, x._data.ndim, op)
    if x._data.ndim == 0:
        return apply(prim, (x.reshape(1),), {"dim": 0, "keepdim": False}).reshape(())
    return apply(prim, (x,), {"dim": d, "keepdim": bool(keepdim)})


@public(axis=True, prim=argmax_p, out=True)
def argmax(input, dim=None, keepdim=False):
    return _arg(argmax_p, "argmax", input, dim, keepdim)


@public(axis=True, prim=argmin_p, out=True)
def argmin(input, dim=None, keepdim=False):
    return _arg(argmin_p, "argmin", input, dim, keepdim)


class return_types:
    max = collections.namedtuple("max", ["values", "indices"])
    min = collections.namedtuple("min", ["values", "indices"])


def _minmax(op, amm, argf, input, dim, keepdim, other):
    if isinstance(dim, Tensor) and other is None:
        other, dim = dim, None
    if other is not None:
        from . import elementwise as E

        return (E.maximum if op == "max" else E.minimum)(input, other)
    if dim is None:
        r = amm(input)
        if r._grad_fn is not None and r._data.dtype.kind == "f":
            # torch spreads the gradient evenly over the elements equal to the result, a NaN
            # result included (amax's rule gives NaN there); the value stays r exactly
            from .elementwise import where

            m = r.detach()
            tie = ((input == m) | (input.isnan() & m.isnan())).to(r.dtype)
            r = m + sum(tie * where(tie > 0, input - m, 0.0)) / sum(tie)
        return label(r, "MaxBackward1" if op == "max" else "MinBackward1", (input,))
    from .movement import gather

    x = to_tensor(input, op)
    if x._data.ndim == 0:
        return getattr(return_types, op)(x * 1, argf(x, 0, keepdim))
    idx = argf(x, dim, True)
    d = _wrap_dim(dim, x._data.ndim, op)
    vals = gather(x, d, idx)
    if not keepdim:
        vals = vals.squeeze(d)
        idx = idx.squeeze(d)
    label(vals, "MaxBackward0" if op == "max" else "MinBackward0", (x,))
    return getattr(return_types, op)(vals, idx)


@public(axis=True, out=True)
def max(input, dim=None, keepdim=False, *, other=None):
    """``max(x)``; ``max(x, dim)`` gives (values, indices); ``max(x, y)`` is ``maximum``."""
    return _minmax("max", amax, argmax, input, dim, keepdim, other)


@public(axis=True, out=True)
def min(input, dim=None, keepdim=False, *, other=None):
    return _minmax("min", amin, argmin, input, dim, keepdim, other)


def root_at_zero_safe(s, p=2):
    """``s ** (1/p)`` for ``s >= 0`` whose gradient at ``s == 0`` is 0 (PyTorch's subgradient
    of a norm at the zero vector), not ``inf * 0 = nan``; twice differentiable."""
    from .elementwise import where

    zero = s == 0
    safe = where(zero, 1.0, s)
    return where(zero, 0.0, safe.sqrt() if p == 2 else safe ** (1.0 / p))


@public(axis=True, inplace=True, out=True)
def cumsum(input, dim, dtype=None):
    x = to_tensor(input, "cumsum")
    if dtype is not None:
        x = x.to(dtype)
    d = _wrap_dim(dim, x._data.ndim, "cumsum")
    return apply(cumsum_p, (x,), {"dim": d})


def _cumsum_ref(x, dim):
    return (
        np.cumsum(x, axis=dim, dtype=x.dtype if x.dtype.kind == "f" else np.int64)
        if x.ndim
        else x.copy()
    )


def _cumsum_vjp(g, o, x, dim):
    # reverse cumulative sum: flip, cumsum, flip
    return (g.flip(dim).cumsum(dim).flip(dim),) if x._data.ndim else (g,)


cumsum_p = register("cumsum", "opaque", _cumsum_ref, vjp=_cumsum_vjp, saves=())
