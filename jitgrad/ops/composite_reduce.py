"""Reductions composed of primitives: var/std (and with the mean), logsumexp, softmax,
log_softmax and the vector norm. Each is jitgrad ops only, so its gradient, its trace and its
compiled form come from the primitives' rules."""

import builtins
import math

from ..tensor import _wrap_dim
from ._common import norm_dims, promote_float, require_float, to_tensor
from .reduce import amax, amin, mean, root_at_zero_safe, sum
from .registry import label, public

builtins_max = builtins.max


def _user_level():
    """The ``stacklevel`` of the first frame outside jitgrad (the user's call)."""
    import os
    import sys

    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    f, level = sys._getframe(1), 1
    while f is not None and f.f_code.co_filename.startswith(pkg):
        f, level = f.f_back, level + 1
    return level


def _count(x, dims):
    n = 1
    for d in dims:
        n *= x._data.shape[d]
    return n


@public(axis=True, out=True)
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance with Bessel's correction by default (``correction=1``)."""
    return _var("var", input, dim, unbiased, keepdim, correction)


def _var(op, input, dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):  # var(x, False) is the legacy unbiased flag
        unbiased, dim = dim, None
    corr = 1 if correction is None else correction
    if unbiased is not None:
        corr = 1 if unbiased else 0
    x = require_float(
        "var", to_tensor(input, "var"), "std and var only support floating point and complex dtypes"
    )
    dims = norm_dims(dim, x._data.ndim, "var")
    n = _count(x, dims)
    if n - corr <= 0:
        import warnings

        warnings.warn(
            f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the "
            "reduction factor (input numel divided by output numel).",
            UserWarning,
            stacklevel=_user_level(),
        )
    mu = mean(x, dims, keepdim=True)
    d = x - mu
    return label(
        sum(d * d, dims, keepdim=keepdim) / builtins_max(n - corr, 0), "VarBackward0", (x,)
    )


@public(axis=True, out=True)
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    v = _var("std", input, dim, unbiased, keepdim, correction)
    return label(
        root_at_zero_safe(v), "StdBackward0", (input,)
    )  # gradient 0 where std is 0, as torch


@public(axis=True, method=False)
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return (var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim))


@public(axis=True, method=False)
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return (std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim))


@public(axis=True, out=True)
def logsumexp(input, dim=None, keepdim=False):
    """``log(sum(exp(x), dim))`` computed stably."""
    (x,) = promote_float("logsumexp", to_tensor(input, "logsumexp"))
    dims = norm_dims(dim, x._data.ndim, "logsumexp")
    if x._data.size == 0:
        return log_(sum(x.exp(), dims, keepdim))
    m = amax(x, dims, keepdim=True).detach()
    m = m.masked_fill(m.isinf(), 0.0)
    r = log_(sum((x - m).exp(), dims, keepdim=True)) + m
    return label(r if keepdim else r.squeeze(dims), "LogsumexpBackward0", (x,))


def log_(x):
    from .elementwise import log

    return log(x)


def _softmax_dim(op, x, dim):
    if dim is None:  # torch.softmax / Tensor.softmax take no implicit dim (F.softmax does)
        raise TypeError(f'{op}() missing 1 required positional arguments: "dim"')
    return _wrap_dim(dim, x._data.ndim, op)


def _softmax_input(op, input, dim, dtype):
    """(``input`` as a floating tensor of ``dtype``, the wrapped softmax dim)."""
    x = to_tensor(input, op)
    if dtype is not None:
        x = x.to(dtype)
    require_float(f"{op}_kernel_impl", x)
    return x, _softmax_dim(op, x, dim)


@public(axis=True)
def softmax(input, dim=None, dtype=None):
    """``exp(x) / sum(exp(x), dim)``, shifted by the (detached) max for stability."""
    x, d = _softmax_input("softmax", input, dim, dtype)
    if x._data.ndim == 0:  # always 1, with zero gradient
        e = (x - x.detach()).exp()
        return e / e
    if x._data.size == 0:
        e = x.exp()
        return e / sum(e, d, keepdim=True)
    m = amax(x, d, keepdim=True).detach()
    e = (x - m).exp()
    return label(e / sum(e, d, keepdim=True), "SoftmaxBackward0", (x,))


@public(axis=True)
def log_softmax(input, dim=None, dtype=None):
    """``x - logsumexp(x, dim)``."""
    x, d = _softmax_input("log_softmax", input, dim, dtype)
    if x._data.ndim == 0:  # always 0, with zero gradient
        return x - x
    return label(x - logsumexp(x, d, keepdim=True), "LogSoftmaxBackward0", (x,))


@public(axis=True)
def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm over ``dim`` (all elements by default); p in {fro, 2, 1, inf, -inf, x}."""
    return label(_norm(input, p, dim, keepdim, dtype), "LinalgVectorNormBackward0", (input,))


def _norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    x = to_tensor(input, "norm")
    if dtype is not None:
        x = x.to(dtype)
    msg = "linalg.vector_norm: Expected a floating point or complex tensor as input. Got {name}"
    require_float("norm", x, msg)
    dims = norm_dims(dim, x._data.ndim, "norm")
    if p in ("fro", 2, 2.0):
        return root_at_zero_safe(sum(x * x, dims, keepdim))
    if p == "nuc":
        raise NotImplementedError("norm: the nuclear norm is not supported")
    if isinstance(p, str) or not isinstance(p, (int, float)):
        raise RuntimeError(
            f"norm: Order {p!r} not supported; use 'fro', 'nuc' or a number (inf, -inf, 0, 1, "
            "2, ...)"
        )
    if p in (math.inf, float("inf")):
        return amax(x.abs(), dims, keepdim)
    if p == -math.inf:
        return amin(x.abs(), dims, keepdim)
    if p == 0:
        return sum((x != 0).to(x._data.dtype), dims, keepdim)
    if p == 1:
        return sum(x.abs(), dims, keepdim)
    return root_at_zero_safe(sum(x.abs() ** p, dims, keepdim), p)
