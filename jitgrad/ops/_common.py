"""Operand handling shared by all ops: scalars to constants, dtype promotion, unbroadcast."""

import numpy as np

from .. import _dtype
from ..tensor import Tensor, _wrap_dim
from . import buffers
from .registry import const

_FLOAT = np.dtype(np.float32)


def promote(op, *xs):
    """Tensors of PyTorch's common dtype; Python scalars become 0-d constants."""
    if len(xs) == 2:  # the hot case: a binary op with a Tensor and a Tensor / Python number
        a0, a1 = xs
        c0, c1 = a0.__class__, a1.__class__
        if c0 is Tensor or isinstance(a0, Tensor):
            dt = a0._data.dtype
            if c1 is Tensor or isinstance(a1, Tensor):
                if a1._data.dtype == dt:
                    return xs
            elif (c1 is float and dt.kind == "f") or (c1 is int and dt.kind in "fiu"):
                return a0, const(a1, dt)  # a Python number never upcasts within a category
        elif (c1 is Tensor or isinstance(a1, Tensor)) and (
            (c0 is float and a1._data.dtype.kind == "f")
            or (c0 is int and a1._data.dtype.kind in "fiu")
        ):
            return const(a0, a1._data.dtype), a1
    else:
        a0 = xs[0]
        if a0.__class__ is Tensor or isinstance(a0, Tensor):
            dt = a0._data.dtype
            same = True
            for x in xs[1:]:
                if not isinstance(x, Tensor) or x._data.dtype != dt:
                    same = False
                    break
            if same:
                return xs
    ops = []
    for x in xs:
        if isinstance(x, Tensor):
            ops.append(x._data)
        elif isinstance(x, (bool, int, float, np.number, np.bool_)):
            ops.append(x.item() if isinstance(x, (np.number, np.bool_)) else x)
        elif isinstance(x, np.ndarray):
            raise TypeError(
                f"{op}: expected a Tensor or a Python number, got a NumPy array; "
                "wrap it with jitgrad.from_numpy(a) or jitgrad.tensor(a)"
            )
        else:
            raise TypeError(
                f"{op}(): argument of type {type(x).__name__} is not a Tensor or a number"
            )
    rt = _dtype.result_type(*ops)
    return tuple(cast(x, rt) if isinstance(x, Tensor) else const(x, rt) for x in xs)


def promote_float(op, *xs):
    """Like ``promote`` but integer/bool results become the default float dtype."""
    xs = promote(op, *xs)
    if xs[0]._data.dtype.kind != "f":
        xs = tuple(cast(x, _FLOAT) for x in xs)
    return xs


_TORCH_NAMES = {
    "int64": "Long",
    "int32": "Int",
    "int16": "Short",
    "int8": "Char",
    "uint8": "Byte",
    "bool": "Bool",
}


def require_float(op, x, message=None):
    """``x`` itself when floating; otherwise PyTorch's error for ``op`` on an integer/bool
    tensor (``message``: its text, ``{name}`` for the dtype; default: not implemented for it)."""
    if x._data.dtype.kind == "f":
        return x
    name = _TORCH_NAMES.get(x._data.dtype.name, x._data.dtype.name)
    hint = f" (input dtype {x._data.dtype.name}); convert it first, e.g. x.float()"
    if message is None:
        raise NotImplementedError(f"\"{op}\" not implemented for '{name}'{hint}")
    raise RuntimeError(message.format(name=name) + hint)


def cast(x, npdt):
    """``x`` converted to NumPy dtype ``npdt`` (differentiable); no-op when already that dtype."""
    if x._data.dtype == npdt:
        return x
    if x._requires_grad and np.dtype(npdt).kind != "f":
        x = x.detach()  # an integer/bool result has no gradient (torch: requires_grad False)
    from .elementwise import cast_p
    from .registry import apply

    return apply(cast_p, (x,), {"dtype": npdt})


def to_tensor(x, op="op"):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float, np.number, np.bool_)):
        return const(x, _dtype.result_type(x.item() if hasattr(x, "item") else x))
    raise TypeError(f"{op}(): expected a Tensor, got {type(x).__name__}")


_SAME_SIZE_INT = {2: np.int16, 4: np.int32, 8: np.int64}


def select_or_zero(mask, x):
    """``np.where(mask, x, 0)`` bit for bit (``+0.0`` where ``mask`` is false) for a float
    array ``x`` and a bool array ``mask`` of its shape, as a bitwise AND of ``x``'s bits with
    all-ones or zero: no branch per element (``np.where`` on a random mask mispredicts half
    of them: 6x slower on a conv net's ReLU gradient)."""
    it = _SAME_SIZE_INT.get(x.dtype.itemsize) if x.dtype.kind == "f" else None
    if it is None or not isinstance(mask, np.ndarray) or mask.shape != x.shape:
        return np.where(mask, x, x.dtype.type(0))
    # 0 or -1 (every bit set); a large one from the recycled buffers (no fresh pages)
    out = buffers.empty(x.shape, it) if x.nbytes >= buffers.MIN_BYTES else None
    bits = np.negative(mask.view(np.int8), dtype=it, out=out)
    return np.bitwise_and(x.view(it), bits, out=bits).view(x.dtype)


def out_of_range(a, n):
    """The first offending value of the index array ``a`` for a size ``n`` (a negative one
    first), or None when every index is in ``[0, n)``."""
    if a.size and (a.min() < 0 or a.max() >= n):
        return a.min() if a.min() < 0 else a.max()
    return None


def sum_to(g, shape):
    """Sum ``g`` down to ``shape`` (undo broadcasting); the heart of every binary VJP."""
    gs = g._data.shape
    if gs == shape:
        return g
    from .reduce import sum as _sum

    lead = len(gs) - len(shape)
    dims = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gs[i + lead] != 1
    )
    r = _sum(g, dims, keepdim=True) if dims else g
    return r.reshape(shape) if r._data.shape != shape else r


def norm_dims(dim, ndim, op):
    """Normalise ``dim`` (None, int or sequence) to a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (int, np.integer)):
        d = _wrap_dim(dim if type(dim) is bool else int(dim), ndim, op)
        return (d,) if ndim else ()  # a 0-d tensor accepts dim 0 / -1 and reduces nothing
    if not isinstance(dim, (tuple, list)) and not hasattr(dim, "__index__"):
        raise TypeError(
            f"{op}(): argument 'dim' must be an int or a tuple of ints, not "
            f"{type(dim).__name__} ({dim!r})"
        )
    if hasattr(dim, "__index__"):  # a 0-d integer tensor
        return norm_dims(dim.__index__(), ndim, op)
    dims = tuple(sorted(_wrap_dim(d, ndim, op) for d in dim))
    if not ndim:
        return ()
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"{op}: dim {tuple(dim)} appears multiple times in the list of dims")
    if len(dims) == 0:
        return tuple(range(ndim))
    return dims


def broadcast_shapes(op, *shapes):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise RuntimeError(
            f"{op}: the shapes {' and '.join(str(tuple(s)) for s in shapes)} are not broadcastable "
            "(each dimension must match or be 1, aligned from the right)"
        ) from None
