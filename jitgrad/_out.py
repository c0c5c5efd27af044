"""``out=`` for the functions that take it in PyTorch, with PyTorch's rules.

The result is computed as usual, then written into ``out``: a shape mismatch resizes ``out``
(with PyTorch's deprecation warning unless ``out`` was empty; factories resize silently), a
result that cannot be cast to ``out``'s dtype category is refused, and ``out=`` does not
support autograd (an argument that requires grad raises, outside ``no_grad``).
"""

import functools
import warnings

import numpy as np

from ._grad_mode import STATE
from .tensor import Tensor

_TORCH_NAMES = {
    "f": "Float",
    "d": "Double",
    "e": "Half",
    "q": "Long",
    "l": "Long",
    "i": "Int",
    "h": "Short",
    "b": "Char",
    "B": "Byte",
    "?": "Bool",
}


def _tname(dt):
    return _TORCH_NAMES.get(dt.char, dt.name)


def _cat(dt):
    k = dt.kind
    return 2 if k == "f" else (0 if k == "b" else 1)


def _any_requires_grad(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, Tensor) and a._requires_grad:
            return True
        if isinstance(a, (list, tuple)):
            if any(isinstance(t, Tensor) and t._requires_grad for t in a):
                return True
    return False


def write_out(name, result, out, factory=False):
    """Store ``result`` into the Tensor ``out`` (resizing it if needed); returns ``out``."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    rd = result._data
    od = out._data
    if _cat(rd.dtype) > _cat(od.dtype):
        raise RuntimeError(
            f"result type {_tname(rd.dtype)} can't be cast to the desired output type "
            f"{_tname(od.dtype)}"
        )
    if rd.shape != od.shape:
        if od.size and not factory:
            warnings.warn(
                f"An output with one or more elements was resized since it had shape "
                f"{list(od.shape)}, which does not match the required output shape "
                f"{list(rd.shape)}. This behavior is deprecated, and in a future PyTorch "
                f"release outputs will not be resized unless they have zero elements. You can "
                f"explicitly reuse an out tensor t by resizing it, inplace, to zero elements "
                f"with t.resize_(0).",
                UserWarning,
                stacklevel=3,
            )
        tr = STATE.tracer
        if tr is not None and tr.is_traced(out):
            tr.fail(f"{name}(out=...) resizing its output")
        out._data = np.empty(rd.shape, dtype=od.dtype)
    from ._grad_mode import no_grad

    with no_grad():
        out.copy_(result)
    return out


def with_out(fn, name=None, factory=False):
    """``fn`` accepting ``out=`` (a Tensor, or a tuple of Tensors for tuple results)."""
    name = name or fn.__name__

    @functools.wraps(fn)
    def f(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        if STATE.enabled:
            outs = out if isinstance(out, (tuple, list)) else (out,)
            if _any_requires_grad(args, kwargs) or any(
                isinstance(o, Tensor) and o._requires_grad for o in outs
            ):
                raise RuntimeError(
                    f"{name}(): functions with out=... arguments don't support automatic "
                    "differentiation, but one of the arguments requires grad."
                )
        r = fn(*args, **kwargs)
        if isinstance(r, tuple):
            if not isinstance(out, (tuple, list)) or len(out) != len(r):
                raise TypeError(f"{name}(): argument 'out' must be a tuple of {len(r)} Tensors")
            for o, x in zip(out, r):
                write_out(name, x, o, factory)
            return type(r)(*out) if hasattr(r, "_fields") else tuple(out)
        return write_out(name, r, out, factory)

    f.__wrapped__ = fn
    return f
