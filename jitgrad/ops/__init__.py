"""All ops, and the Tensor methods and operators that call them.

Ops declare their public surface where they are defined (``registry.public``: the
``jitgrad.<name>`` function, ``Tensor.<name>``, the in-place ``Tensor.<name>_``, aliases);
``_install`` below turns every declaration into methods and exports. What stays here: the
operators, and the Tensor methods that are no op of their own (conversions, metadata, ...).
"""

import sys

import numpy as np

from .. import _dtype
from .._out import with_out
from ..tensor import Tensor, _as_array, _wrap
from . import composite_reduce as RC  # noqa: F401  (declares var, softmax, ...)
from . import elementwise as E
from . import matmul as M
from . import movement as V
from . import reduce as R
from ._common import cast, out_of_range, promote
from .inplace import fast_binary, inplace
from .registry import _INSTALLERS, PRIMITIVES, SURFACE, apply, public, register  # noqa: F401


@public(inplace=True, out=True)
def add(input, other, *, alpha=1):
    """``input + alpha * other`` with broadcasting."""
    if isinstance(alpha, Tensor) or alpha != 1:
        other = other * alpha
    return E.add(input, other)


@public(inplace=True, aliases=("subtract",), out=True)
def sub(input, other, *, alpha=1):
    """``input - alpha * other`` with broadcasting."""
    if isinstance(alpha, Tensor) or alpha != 1:
        other = other * alpha
    return E.sub(input, other)


subtract = sub
multiply = mul = E.mul


@public(inplace=True, aliases=("divide", "true_divide"), out=True)
def div(input, other, *, rounding_mode=None):
    """True division; ``rounding_mode='floor'`` or ``'trunc'`` rounds the quotient."""
    if rounding_mode is None:
        return E.div(input, other)
    if rounding_mode == "floor":
        a, b = promote("div", input, other)
        if a._data.dtype.kind in "iu":
            _int_divisor(b, rounding_mode)
            return E.floor_divide(a, b)
        return E.floor(E.div(a, b))
    if rounding_mode == "trunc":
        a, b = promote("div", input, other)
        if a._data.dtype.kind in "iu":
            _int_divisor(b, rounding_mode)
        q = E.trunc(E.div(a, b))
        return q if a._data.dtype.kind == "f" else q.to(a._data.dtype)
    raise RuntimeError(
        f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
        f"found '{rounding_mode}'"
    )


divide = true_divide = div


def _int_divisor(b, mode):
    """torch raises for an integer division by zero (NumPy would give 0 and warn)."""
    from .._grad_mode import STATE

    msg = (
        f"ZeroDivisionError: integer division by zero (div with rounding_mode={mode!r} on "
        f"{b._data.dtype.name} tensors)"
    )
    if (b._data == 0).any():
        raise RuntimeError(msg)
    if STATE.tracer is not None:
        R.require(b != 0, msg)


@public(inplace=True, out=True)
def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2``."""
    p = tensor1 * tensor2
    return input + (p * value if isinstance(value, Tensor) or value != 1 else p)


@public(inplace=True, out=True)
def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2``."""
    q = tensor1 / tensor2
    return input + (q * value if isinstance(value, Tensor) or value != 1 else q)


def _is_dtype(a):
    return (
        isinstance(a, (_dtype.DType, np.dtype))
        or a in (float, int, bool)
        or (isinstance(a, type) and issubclass(a, np.generic))
        or isinstance(a, _dtype.UnsupportedDType)
        or (isinstance(a, str) and a in _dtype._NAMES)
    )


def to(self, *args, **kwargs):
    """``t.to(dtype)``, ``t.to(device)``, ``t.to(other)``, ``t.to(device, dtype)``.

    Eager tensors live on the CPU: ``"cpu"`` returns ``self``; another device raises
    PyTorch's error for a machine without it. ``copy=True`` forces a copy.
    """
    from .._devices import check_device

    dtype = kwargs.pop("dtype", None)
    dev = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() received an invalid keyword argument '{next(iter(kwargs))}'")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, bool):
            continue  # positional non_blocking / copy
        elif _is_dtype(a):
            dtype = a
        else:
            dev = a
    if dev is not None:
        check_device(dev, "to")
    r = self if dtype is None else cast(self, _dtype.to_np(dtype))
    return r.clone() if copy and r is self else r


def _type(self, dtype=None, non_blocking=False, **kwargs):
    """``t.type()`` names the legacy type (``'jitgrad.FloatTensor'``); ``t.type(T)`` casts."""
    from ..creation import LEGACY_TYPES

    if dtype is None:
        for name, c in LEGACY_TYPES.items():
            if c.np_dtype == self._data.dtype:
                return "jitgrad." + name
        return "jitgrad.Tensor"
    if isinstance(dtype, str) and dtype.split(".")[-1] in LEGACY_TYPES:
        if ".cuda." in dtype:
            from .._devices import check_device

            check_device("cuda", "type")
        dtype = LEGACY_TYPES[dtype.split(".")[-1]]
    elif isinstance(dtype, str):  # torch: a string names a tensor type, never a device
        raise ValueError(f"invalid type: '{dtype}'")
    if isinstance(dtype, type) and hasattr(dtype, "np_dtype"):
        dtype = dtype.np_dtype
    return to(self, dtype)


def _cuda(self, device=None, non_blocking=False, memory_format=None):
    from .._devices import check_device

    check_device("cuda" if device is None or isinstance(device, int) else device, "cuda")
    return self


_NUMBER = (Tensor, int, float, bool, np.number, np.bool_)


def _binop(fn):
    if getattr(fn, "op", None) is not None:
        return fn.op  # elementwise binaries bring their own (one frame shorter)

    def op(self, other):
        c = other.__class__
        if c is Tensor or c is float or c is int or isinstance(other, _NUMBER):
            return fn(self, other)
        return NotImplemented

    return op


def _rbinop(fn):
    if getattr(fn, "rop", None) is not None:
        return fn.rop

    def op(self, other):
        c = other.__class__
        if c is float or c is int or isinstance(other, _NUMBER[1:]):
            return fn(other, self)  # fn promotes the number to a constant of self's dtype
        return NotImplemented

    return op


def _setitem(self, idx, value):
    from .._grad_mode import STATE

    st = STATE
    vt = isinstance(value, Tensor)
    if not vt and not isinstance(value, (int, float, bool, np.number, np.bool_)):
        try:
            value = _wrap(_as_array(value))
            vt = True
        except (TypeError, ValueError):
            raise TypeError(f"can't assign a {type(value).__name__} to a Tensor") from None
    graph = st.enabled and (self._requires_grad or (vt and value._requires_grad))
    if not graph and st.tracer is None:
        spec, tensors = V._parse_index(self, idx, "index_put_")
        V._check_bounds(self, spec, tensors, "index_put_")
        if self._requires_grad and self._grad_fn is None and st.enabled:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        v = value._data if vt else value
        if vt and v.ndim and v.shape[0] == 1:  # like torch, drop the value's leading 1-dims
            v = v.reshape(v.shape[next((i for i, s in enumerate(v.shape) if s != 1), v.ndim) :])
        try:
            self._data[V._build_index(spec, [t._data for t in tensors])] = v
        except ValueError as e:
            raise RuntimeError(
                f"index_put_: shape mismatch: value of shape "
                f"{list(np.shape(v))} cannot be broadcast to the indexed shape "
                f"({e})"
            ) from None
        self._vc[0] += 1
        return
    inplace(self, lambda s: V.setitem_value(s, idx, value)[0], (value,), "index_put_")


_PLAIN = frozenset((int, slice, type(None), type(Ellipsis), Tensor))


def _norm_item(it):
    """A Python sequence index (list, range, tuple, ndarray, bool) as an index tensor."""
    if isinstance(it, (bool, np.bool_)):
        return _wrap(np.array(bool(it)))
    if isinstance(it, (list, tuple, range, np.ndarray)):
        try:
            arr = _as_array(list(it) if isinstance(it, range) else it)
        except (ValueError, TypeError):
            raise IndexError(f"index: could not turn {it!r} into an index tensor") from None
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int64)
        return _wrap(arr)
    return it


def _norm_index(idx):
    c = idx.__class__
    if c in _PLAIN:
        return idx
    if c is tuple:
        return tuple(it if it.__class__ in _PLAIN else _norm_item(it) for it in idx)
    return _norm_item(idx)


def _getitem(self, idx):
    if idx.__class__ in _PLAIN:
        return V.getitem(self, idx)
    return V.getitem(self, _norm_index(idx))


def _uniform_(self, a=0.0, b=1.0, generator=None):
    from ..creation import rand

    if a > b:
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}; "
            "swap the bounds"
        )
    return inplace(
        self,
        lambda s: rand(*s.shape, dtype=s.dtype, generator=generator) * (b - a) + a,
        (),
        "uniform_",
    )


def _normal_(self, mean=0.0, std=1.0, generator=None):
    from ..creation import randn

    if std < 0:
        raise RuntimeError(f"normal_ expects std >= 0.0, but found std {std}")
    return inplace(
        self,
        lambda s: randn(*s.shape, dtype=s.dtype, generator=generator) * std + mean,
        (),
        "normal_",
    )


def _bernoulli_(self, p=0.5, generator=None):
    from ..creation import rand

    return inplace(
        self, lambda s: (rand(*s.shape, generator=generator) < p).to(s.dtype), (), "bernoulli_"
    )


def _fill(s, value):
    """A tensor of ``s``'s shape and dtype filled with ``value`` (a number or a 0-d tensor)."""
    from .registry import const

    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value._data.ndim} dimensions."
            )
        return E.clone(value.to(s._data.dtype).expand(*s._data.shape))
    from ..creation import check_fill_value

    value = check_fill_value(value, s._data.dtype)
    return const(value, s._data.dtype).expand(*s._data.shape)


def _copy(s, src):
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    r = src.to(s._data.dtype)
    if r._data.shape != s._data.shape:
        try:
            r = r.expand(*s._data.shape)
        except RuntimeError:
            raise RuntimeError(
                f"copy_: the source of shape {list(src.shape)} cannot be "
                f"broadcast to the destination shape {list(s.shape)}"
            ) from None
    return E.clone(r)


_RSUB = _rbinop(E.sub)
_RDIV = _rbinop(E.div)


def _rsub(s, o):
    """``2 - x``: torch's one-input ``RsubBackward1`` node."""
    from .registry import label

    r = _RSUB(s, o)
    return r if r is NotImplemented else label(r, "RsubBackward1", (s,))


def _rtruediv(s, o):
    """``2 / x``: torch records ``reciprocal(x) * 2`` (``MulBackward0``)."""
    from .registry import ShownNode, label

    r = _RDIV(s, o)
    if r is NotImplemented or r._grad_fn is None:
        return r
    return label(r, "MulBackward0", (ShownNode("ReciprocalBackward0", (s,)), None))


def _matmul_op(s, o):
    if not isinstance(o, Tensor):
        return NotImplemented
    if s._data.ndim == 1 and o._data.ndim == 1:
        return M.dot(s, o)  # torch records ``v @ v`` as DotBackward0
    return M.matmul(s, o)


def _new_like(s, kind, size, dtype, requires_grad):
    from .. import creation

    return getattr(creation, kind)(*size, dtype=dtype or s.dtype, requires_grad=requires_grad)


def _full_like(s, size, fill_value, dtype, requires_grad):
    from .. import creation

    return creation.full(size, fill_value, dtype=dtype or s.dtype, requires_grad=requires_grad)


def _new_tensor(s, data, dtype, requires_grad):
    from .. import creation

    return creation.tensor(data, dtype=dtype or s.dtype, requires_grad=requires_grad)


# ---------------------------------------------------------------- the wider surface ------
from . import bitwise as B  # noqa: E402
from . import composite as C  # noqa: E402
from . import ctc as _ctc  # noqa: E402,F401  (declares ctc_nll, ctc_grad)
from . import linalg as L  # noqa: E402
from . import more as _more  # noqa: E402,F401  (declares i0, renorm, nanmedian, ...)

_LEAF_VIEW = (
    "a leaf Variable that requires grad is being used in an in-place operation ({op} on a "
    "tensor of shape {shape}); wrap the update in `with jitgrad.no_grad():` or operate on a clone"
)


def _view_inplace(name, fn):
    """``t.unsqueeze_(0)`` & co: ``t`` takes the view's shape (and its history)."""
    from .._grad_mode import STATE

    def m(self, *args, **kwargs):
        if STATE.enabled and self._requires_grad and self._grad_fn is None:
            raise RuntimeError(_LEAF_VIEW.format(op=name, shape=list(self._data.shape)))
        tr = STATE.tracer
        if tr is not None and tr.is_traced(self):
            tr.fail(f"{name} (an in-place change of a tensor's shape)")
        r = fn(self, *args, **kwargs)
        self._data = r._data
        if r._grad_fn is not None:
            self._grad_fn = r._grad_fn
            if r._grad_fn.prim.saves_out:
                r._grad_fn.out_vc = self._vc
                r._grad_fn.out_version = self._vc[0]
        return self

    m.__name__ = name
    m.__doc__ = f"In-place ``{name[:-1]}``: the tensor itself takes the new shape."
    return m


# in-place forms of out-of-place methods (the result is written back into the tensor)


def _scatter(input, dim, index, src=None, value=None, *, reduce=None):
    """Out-of-place ``scatter``: ``input`` with ``src`` (or ``value``) written at ``index``."""
    if src is None:
        src = value
    V._check_index("scatter", input, dim, index)
    if isinstance(src, Tensor) and (
        src.ndim != index.ndim or any(a > b for a, b in zip(index.shape, src.shape))
    ):
        raise RuntimeError(
            f"scatter(): Expected index {list(index.shape)} to be no larger than src "
            f"{list(src.shape)} in every dimension (and of the same number of dimensions)"
        )
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise RuntimeError(f"reduce argument must be either add or multiply. Got {reduce}")
        if reduce == "add":
            s = (
                src
                if isinstance(src, Tensor)
                else C._wrap(np.full(index.shape, src, input._data.dtype))
            )
            return V.scatter_add(input, dim, index, s)
    if not isinstance(src, Tensor):
        src = C._wrap(np.full(tuple(index.shape), src, dtype=input._data.dtype))
    elif src._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"scatter(): Expected self.dtype to be equal to src.dtype (self {input.dtype}, "
            f"src {src.dtype}); convert src with src.to(self.dtype)"
        )
    d = dim % max(input.ndim, 1)
    sl = tuple(slice(0, n) for n in index.shape)
    s = src[sl] if tuple(src.shape) != tuple(index.shape) else src
    if reduce == "multiply":
        cur = V.gather(input, d, index)
        s = cur * s
    # keep where nothing is scattered (counted by a traced scatter_add, never a constant
    # mask: a traced step must follow a new index); scatter_add of src into the holes
    cnt = V.scatter_add(
        C._wrap(np.zeros(input._data.shape, np.int64)),
        d,
        index,
        C._wrap(np.ones(tuple(index.shape), np.int64)),
    )
    zeros = C._wrap(np.zeros(input._data.shape, input._data.dtype))
    base = E.where(cnt == 0, input, zeros)
    placed = V.scatter_add(zeros, d, index, s)
    if (cnt._data > 1).any():  # duplicate indices: the last write wins, like NumPy (no gradient)
        if s._requires_grad:
            raise RuntimeError(
                "scatter: the gradient with duplicate indices is not defined (which write wins "
                "is unspecified); use scatter_add or unique indices"
            )
        vals = np.where(cnt._data == 0, input._data, 0).astype(input._data.dtype)
        np.put_along_axis(vals, index._data, s._data, axis=d)
        return C._wrap(vals)
    return base + placed


def _along(idx, d):
    grids = list(np.indices(idx.shape, sparse=True))
    grids[d] = idx
    return tuple(grids)


def _index_along(op, input, dim, index, source=None):
    """Checks ``index`` (a vector of int indices into ``dim``) and ``source`` for
    index_add/index_copy/index_fill; returns the wrapped dim and ``index`` as int64."""
    from .._errors import IndexRuntimeError
    from ..tensor import _wrap_dim

    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise IndexRuntimeError(
            f"{op}(): Expected dtype int32/int64 for index (got "
            f"{getattr(index, 'dtype', type(index).__name__)}); convert with index.long()"
        )
    if index._data.ndim > 1:
        raise IndexRuntimeError(
            f"{op}(): Index is supposed to be a vector (got shape {list(index.shape)})"
        )
    nd = input._data.ndim
    d = _wrap_dim(dim, max(nd, 1), op)
    n = input._data.shape[d] if nd else 1
    a = index._data
    bad = out_of_range(a, n)
    if bad is not None:
        raise IndexRuntimeError(
            f"{op}(): index {bad} is out of bounds for dimension {d} with size {n} "
            f"(self shape {list(input.shape)}); indices must be in [0, {n - 1}]"
        )
    if isinstance(source, Tensor):
        want = input._data.shape[:d] + (a.size,) + input._data.shape[d + 1 :]
        if source._data.shape != (want if nd else (() if a.size == 1 else (a.size,))):
            if not (nd == 0 and source._data.shape in ((), (1,))):
                raise RuntimeError(
                    f"{op}(): source of shape {list(source.shape)} does not match: expected "
                    f"{list(want)} (self shape {list(input.shape)} with dimension {d} of size "
                    f"{a.size} = the number of indices)"
                )
        if source._data.dtype != input._data.dtype:
            raise RuntimeError(
                f"{op}(): self ({input.dtype}) and source ({source.dtype}) must have the same "
                "scalar type; convert with source.to(self.dtype)"
            )
    return d, index.long()


def _expand_along(index, d, shape):
    """The vector ``index`` broadcast along ``d`` over ``shape`` (traced, never a constant)."""
    sh = (1,) * d + (-1,) + (1,) * (len(shape) - d - 1)
    return index.reshape(sh).expand(*shape).contiguous()


def _index_fill(input, dim, index, value):
    """``input`` with the slices at ``index`` along ``dim`` set to ``value``."""
    d, idx = _index_along("index_fill", input, dim, index)
    n = input._data.shape[d] if input.ndim else 1
    hit = V.scatter_add(
        C._wrap(np.zeros(n, np.int64)), 0, idx.reshape(-1), C._wrap(np.ones(idx.numel(), np.int64))
    )
    m = (hit > 0).reshape((-1,) + (1,) * (input.ndim - d - 1) if input.ndim else ())
    return E.where(m, value, input)


def _index_add(input, dim, index, source, *, alpha=1):
    """``input`` with ``alpha * source`` slices added at ``index`` along ``dim``."""
    d, idx = _index_along("index_add", input, dim, index, source)
    if input.ndim == 0:
        return input + (source.reshape(()) * alpha if alpha != 1 else source.reshape(()))
    full = _expand_along(idx, d, tuple(source.shape))
    return V.scatter_add(input, d, full, source * alpha if alpha != 1 else source)


def _index_copy(input, dim, index, source):
    """``input`` with the slices at ``index`` along ``dim`` replaced by ``source``."""
    d, idx = _index_along("index_copy", input, dim, index, source)
    if input.ndim == 0:
        return source.reshape(()).clone()
    full = _expand_along(idx, d, tuple(source.shape))
    return _scatter(input, d, full, source)


def _masked_scatter(input, mask, source):
    """``input`` with the positions of ``mask`` filled from ``source`` in order."""
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        raise RuntimeError(
            "masked_scatter_ only supports boolean masks, but got mask with dtype "
            f"{getattr(mask, 'dtype', type(mask).__name__)}"
        )
    n = int(np.count_nonzero(np.broadcast_to(mask._data, input._data.shape)))
    if n > source.numel():
        raise RuntimeError(
            f"masked_scatter: Number of elements of source ({source.numel()}) < number of ones "
            f"in mask ({n}); source must hold at least one value per True in the mask"
        )
    # the k-th True takes source[k]: positions from a traced cumsum (never a constant, so a
    # traced step follows a new mask; a too-small source is an index error there)
    m = mask.expand(*input.shape).reshape(-1)
    pos = R.cumsum(m.long(), 0) - 1
    vals = source.reshape(-1)[E.where(m, pos, 0)]
    return E.where(m, vals, input.reshape(-1)).reshape(input.shape)


def _unsupported(what):
    def f(self, *a, **k):
        raise NotImplementedError(f"{what} is out of jitgrad's scope")

    return f


def _imag(self):
    raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")


def _creation():
    from .. import creation

    return creation


def _index_put(s, indices, values, accumulate):
    """``s[indices] = values`` (``+=`` with ``accumulate``, duplicates summed); returns ``s``."""
    idx = tuple(indices)
    if accumulate:
        from .._grad_mode import no_grad

        if len(idx) != s.ndim:
            raise NotImplementedError("index_put_(accumulate=True) needs one index per dimension")
        for i in idx:
            i._check_concrete("index_put_(accumulate=True) with a tensor index")
        lin = np.ravel_multi_index(tuple(i._data for i in idx), s._data.shape)
        cur = s.reshape(-1)
        v = (
            values
            if isinstance(values, Tensor)
            else C._wrap(np.full(lin.shape, values, s._data.dtype))
        )
        v = v.expand(*lin.shape) if tuple(v.shape) != lin.shape else v
        new = V.scatter_add(cur, 0, C._wrap(lin.reshape(-1).astype(np.int64)), v.reshape(-1))
        with no_grad() if not (s._requires_grad or v._requires_grad) else _nullctx():
            s.copy_(new.reshape(s.shape))
        return s
    s[idx] = values
    return s


def _put(s, index, source, accumulate):
    """``s`` seen as 1-D with ``source`` written (added) at ``index``; returns ``s``."""
    if not s.is_contiguous():
        raise RuntimeError("put_: the tensor must be contiguous (call .contiguous() first)")
    _index_put(s.view(-1), (index.reshape(-1),), source.reshape(-1), accumulate)
    return s


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


_UFUNC_INPLACE = {"add_": np.add, "sub_": np.subtract, "mul_": np.multiply, "div_": np.true_divide}


def _mk_inplace(name, fn):
    uf = _UFUNC_INPLACE.get(name)

    def m(self, *args, **kwargs):
        if uf is not None and len(args) == 1 and not kwargs and fast_binary(self, uf, args[0]):
            return self
        return inplace(self, lambda s: fn(s, *args, **kwargs), args, name)

    m.__name__ = name
    return m


def _eq_op(op, fn):
    """``t == array``: torch compares with the array as a tensor (``<`` etc. are TypeErrors)."""

    def eq(self, other):
        if other.__class__ is np.ndarray:
            from ..creation import tensor

            return fn(self, tensor(other))
        return op(self, other)

    eq.__name__ = op.__name__
    return eq


def _no_array(m):
    """``t += array`` is not in place in torch: Python falls back to ``t = t + array`` (which
    NumPy computes, see ``Tensor.__array_wrap__``)."""

    def op(self, other):
        if other.__class__ is np.ndarray:
            return NotImplemented
        return m(self, other)

    op.__name__ = m.__name__
    return op


def _strided():
    from ..creation import strided

    return strided


def _is_nonzero(s):
    if s._data.size == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if s._data.size > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(s._data.reshape(()))


def _sum_to_size(s, size):
    from ._common import sum_to

    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return sum_to(s, tuple(size))


def _tensor_split(s, indices_or_sections, dim=0):
    n = s.shape[dim]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if k <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {k}")
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    else:
        cuts = [0] + [min(int(i), n) for i in indices_or_sections] + [n]
        sizes = [max(b - a, 0) for a, b in zip(cuts[:-1], cuts[1:])]
    out, start = [], 0
    for z in sizes:
        out.append(V.narrow(s, dim, start, z))
        start += z
    return tuple(out)


def _unfold(s, dimension, size, step):
    """Sliding windows of ``size`` with ``step`` along ``dimension`` (a new last dimension)."""
    d = dimension % max(s.ndim, 1)
    n = s.shape[d] if s.ndim else 1
    if size > n or size < 0:
        raise RuntimeError(
            f"unfold: maximum size for tensor at dimension {d} is {n} but size is {size} "
            f"(input shape {list(s.shape)})"
        )
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    starts = range(0, n - size + 1, step)
    wins = [V.narrow(s, d, i, size).unsqueeze(d) for i in starts]
    if not wins:
        shape = list(s.shape)
        shape[d] = 0
        return C._wrap(np.zeros(shape + [size], s._data.dtype))
    return V.movedim(V.cat(wins, d), d + 1, -1)


def _apply_(self, fn):
    from .._grad_mode import STATE

    if STATE.tracer is not None:
        STATE.tracer.fail("apply_ (a Python function per element)")
    flat = self._data.reshape(-1)
    for i in range(flat.size):
        flat[i] = fn(flat[i].item())
    self._vc[0] += 1
    return self


def _map_(self, other, fn):
    a, b = np.broadcast_arrays(self._data, other._data)
    flat, fo = self._data.reshape(-1), b.reshape(-1)
    for i in range(flat.size):
        flat[i] = fn(flat[i].item(), fo[i].item())
    self._vc[0] += 1
    return self


def _rng():
    from ..creation import default_generator

    return default_generator._rng


def _fill_random(self, arr, op):
    return inplace(self, lambda s: C._wrap(np.asarray(arr, dtype=s._data.dtype)), (), op)


def _random_(self, from_=0, to=None, *, generator=None):
    if to is None:
        from_, to = 0, (from_ if from_ else (2**24 if self._data.dtype.kind == "f" else 2**31))
    return _fill_random(self, _rng().integers(from_, to, self._data.shape), "random_")


def _exponential_(self, lambd=1.0, *, generator=None):
    return _fill_random(self, _rng().exponential(1 / lambd, self._data.shape), "exponential_")


def _geometric_(self, p, *, generator=None):
    return _fill_random(self, _rng().geometric(p, self._data.shape), "geometric_")


def _log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    return _fill_random(self, _rng().lognormal(mean, std, self._data.shape), "log_normal_")


def _cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    return _fill_random(self, median + sigma * _rng().standard_cauchy(self._data.shape), "cauchy_")


def _fill_diagonal_(self, fill_value, wrap=False):
    def f(s):
        m = np.zeros(s._data.shape, dtype=np.bool_)
        np.fill_diagonal(m, True, wrap=wrap)
        return E.where(C._wrap(m), fill_value, s)

    return inplace(self, f, (), "fill_diagonal_")


def _resize_(self, *size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if self._requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    n = int(np.prod(size)) if size else 1
    flat = self._data.reshape(-1)
    new = np.zeros(n, dtype=self._data.dtype)
    new[: min(n, flat.size)] = flat[: min(n, flat.size)]
    self._data = new.reshape(size)
    self._vc[0] += 1
    return self


def _post_accumulate_hook(self, hook):
    """``hook(tensor)`` after the leaf's ``.grad`` was accumulated in backward."""
    if not self.is_leaf:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    from ..tensor import _RemovableHandle

    lst = self._extra().setdefault("post_hooks", [])
    lst.append(hook)

    class _H(_RemovableHandle):
        def remove(self_h):
            if hook in lst:
                lst.remove(hook)

    return _H(self, hook)


def kw_alias(fn, *, axis_to_dim=False, positional=None):
    """``fn`` also accepting torch's keyword spellings: ``axis=`` for ``dim=`` (NumPy style)
    and, with ``positional='shape'``, ``fn(x, shape=(...))`` for ``fn(x, *shape)``."""
    import functools

    @functools.wraps(fn)
    def f(*args, **kwargs):
        if axis_to_dim and "axis" in kwargs:
            kwargs["dim"] = kwargs.pop("axis")
        if positional is not None and positional in kwargs:
            v = kwargs.pop(positional)
            args = args + (tuple(v) if isinstance(v, (list, tuple)) else (v,))
        return fn(*args, **kwargs)

    return f


# reductions whose ``dim=`` torch also spells ``axis=`` (functions and Tensor methods)


# ---------------------------------------------------------------- declared here ----------
public(_scatter, "scatter", inplace=True, export=False)  # jitgrad.scatter is its own function
public(_index_fill, "index_fill", inplace=True)
public(_index_add, "index_add", inplace=True)
public(_index_copy, "index_copy", inplace=True)
public(_masked_scatter, "masked_scatter", inplace=True)
public(_tensor_split, "tensor_split")


@public(axis=True)
def nansum(input, dim=None, keepdim=False, dtype=None):
    """``sum`` treating NaN as zero."""
    return R.sum(E.where(E.isnan(input), 0, input), dim, keepdim)


@public(axis=True)
def nanmean(input, dim=None, keepdim=False, dtype=None):
    """``mean`` over the non-NaN elements."""
    return R.sum(E.where(E.isnan(input), 0, input), dim, keepdim) / R.sum(
        E.logical_not(E.isnan(input)).to(input.dtype), dim, keepdim
    )


# Tensor methods that are no op of their own: conversions, factories, metadata, sampling in
# place, and adaptors whose signature differs from the function's (ops are declared with
# ``public`` where they are defined: see registry.Api)
_METHODS = {
    "to": to,
    "type": _type,
    "cuda": _cuda,
    "float": lambda s: to(s, np.float32),
    "double": lambda s: to(s, np.float64),
    "half": lambda s: to(s, np.float16),
    "long": lambda s: to(s, np.int64),
    "int": lambda s: to(s, np.int32),
    "bool": lambda s: to(s, np.bool_),
    "short": lambda s: to(s, np.int16),
    "byte": lambda s: to(s, np.uint8),
    "char": lambda s: to(s, np.int8),
    "type_as": lambda s, o: to(s, o.dtype),
    "cpu": lambda s, memory_format=None: s,
    "contiguous": lambda s, memory_format=None: s if s._data.flags.c_contiguous else E.clone(s),
    "view_as": lambda s, o: V.view(s, *o.shape),
    "reshape_as": lambda s, o: V.reshape(s, *o.shape),
    "zero_": lambda self: inplace(self, lambda s: _fill(s, 0), (), "zero_"),
    "fill_": lambda self, value: inplace(self, lambda s: _fill(s, value), (value,), "fill_"),
    "copy_": lambda self, src, non_blocking=False: inplace(
        self, lambda s: _copy(s, src), (src,), "copy_"
    ),
    "uniform_": _uniform_,
    "normal_": _normal_,
    "bernoulli_": _bernoulli_,
    "new_zeros": lambda s, *size, dtype=None, requires_grad=False: _new_like(
        s, "zeros", size, dtype, requires_grad
    ),
    "new_ones": lambda s, *size, dtype=None, requires_grad=False: _new_like(
        s, "ones", size, dtype, requires_grad
    ),
    "new_empty": lambda s, *size, dtype=None, requires_grad=False: _new_like(
        s, "empty", size, dtype, requires_grad
    ),
    "new_full": lambda s, size, fill_value, dtype=None, requires_grad=False: _full_like(
        s, size, fill_value, dtype, requires_grad
    ),
    "new_tensor": lambda s, data, dtype=None, requires_grad=False: _new_tensor(
        s, data, dtype, requires_grad
    ),
    "new": lambda s, *args: Tensor(*args).to(s.dtype),
    "hardshrink": lambda s, lambd=0.5: E.where(s.abs() > lambd, s, 0.0),
    "bernoulli": lambda s, p=None, generator=None: _creation().bernoulli(s, p, generator),
    "multinomial": lambda s, num_samples, replacement=False, generator=None: (
        _creation().multinomial(s, num_samples, replacement, generator)
    ),
    "index_put": lambda s, indices, values, accumulate=False: _index_put(
        s.clone(), indices, values, accumulate
    ),
    "index_put_": lambda s, indices, values, accumulate=False: _index_put(
        s, indices, values, accumulate
    ),
    "put_": lambda s, index, source, accumulate=False: _put(s, index, source, accumulate),
    "put": lambda s, index, source, accumulate=False: _put(s.clone(), index, source, accumulate),
    "cholesky": lambda s, upper=False: L.cholesky(s, upper=upper),
    "qr": lambda s, some=True: L.qr(s),
    # metadata and layout (strided CPU tensors only)
    "is_complex": lambda s: False,
    "is_signed": lambda s: s._data.dtype.kind in "if",
    "is_nonzero": lambda s: _is_nonzero(s),
    "get_device": lambda s: -1,
    "is_same_size": lambda s, o: tuple(s.shape) == tuple(o.shape),
    "conj": lambda s: s,
    "resolve_conj": lambda s: s,
    "resolve_neg": lambda s: s,
    "to_dense": lambda s, dtype=None, masked_grad=None: s,
    "pin_memory": lambda s, device=None: s,
    "is_pinned": lambda s, device=None: False,
    "share_memory_": lambda s: s,
    "is_shared": lambda s: False,
    "storage_offset": lambda s: _storage_offset(s),
    "to_sparse": _unsupported("to_sparse (sparse tensors)"),
    "to_sparse_csr": _unsupported("to_sparse_csr (sparse tensors)"),
    "to_sparse_coo": _unsupported("to_sparse_coo (sparse tensors)"),
    "coalesce": _unsupported("coalesce (sparse tensors)"),
    "dequantize": _unsupported("dequantize (quantisation)"),
    "q_scale": _unsupported("q_scale (quantisation)"),
    "int_repr": _unsupported("int_repr (quantisation)"),
    "cfloat": _unsupported("cfloat (complex dtypes)"),
    "cdouble": _unsupported("cdouble (complex dtypes)"),
    "bfloat16": _unsupported("bfloat16 (NumPy has no bfloat16)"),
    "apply_": _apply_,
    "map_": _map_,
    "random_": _random_,
    "exponential_": _exponential_,
    "geometric_": _geometric_,
    "log_normal_": _log_normal_,
    "cauchy_": _cauchy_,
    "fill_diagonal_": _fill_diagonal_,
    "resize_": _resize_,
    "resize_as_": lambda s, o: _resize_(s, *o.shape),
    "sum_to_size": lambda s, *size: _sum_to_size(s, size),
    "split_with_sizes": lambda s, split_sizes, dim=0: V.split(s, list(split_sizes), dim),
    "hsplit": lambda s, sections: _tensor_split(s, sections, 1 if s.ndim > 1 else 0),
    "vsplit": lambda s, sections: _tensor_split(s, sections, 0),
    "dsplit": lambda s, sections: _tensor_split(s, sections, 2),
    "unfold": _unfold,
    "register_post_accumulate_grad_hook": _post_accumulate_hook,
}

_PROPERTIES = {
    "real": lambda s: s,
    "imag": _imag,
    "is_cpu": lambda s: True,
    "is_sparse": lambda s: False,
    "is_quantized": lambda s: False,
    "is_meta": lambda s: False,
    "is_mps": lambda s: False,
    "layout": lambda s: _strided(),
    "itemsize": lambda s: s._data.itemsize,
    "nbytes": lambda s: s._data.nbytes,
    "H": lambda s: s.t() if s.ndim == 2 else s,
    "mH": lambda s: s.transpose(-2, -1),
    "names": lambda s: (None,) * s.ndim,
    "_version": lambda s: s._vc[0],  # in-place writes to its memory so far (views share it)
}


def _storage_offset(s):
    """Elements between the start of the root tensor's memory and a view's first element."""
    if s._base is None or s._data.size == 0:
        return 0
    root = s._base[0]._data
    off = s._data.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return off // s._data.itemsize if 0 <= off < root.nbytes else 0


def _install_operators(T):
    T.__add__ = _binop(E.add)
    T.__radd__ = _binop(E.add)  # ``2 + x`` is ``x + 2`` (torch's operand order)
    T.__sub__ = _binop(E.sub)
    T.__rsub__ = _rsub
    T.__mul__ = _binop(E.mul)
    T.__rmul__ = _binop(E.mul)  # ``2 * x`` is ``x * 2`` (torch's operand order)
    T.__truediv__ = _binop(E.div)
    T.__rtruediv__ = _rtruediv
    T.__floordiv__ = _binop(lambda a, b: div(a, b, rounding_mode="floor"))
    T.__rfloordiv__ = _rbinop(E.floor_divide)
    T.__mod__ = _binop(E.remainder)
    T.__rmod__ = _rbinop(E.remainder)
    T.__pow__ = _binop(E.pow)
    T.__rpow__ = _rbinop(E.pow)
    T.__matmul__ = _matmul_op
    T.__rmatmul__ = lambda s, o: M.matmul(o, s) if isinstance(o, Tensor) else NotImplemented
    T.__neg__ = E.neg
    T.__pos__ = lambda s: s
    T.__abs__ = E.abs
    for dn, fn in (
        ("__eq__", E.eq),
        ("__ne__", E.ne),
        ("__lt__", E.lt),
        ("__le__", E.le),
        ("__gt__", E.gt),
        ("__ge__", E.ge),
    ):
        setattr(T, dn, _binop(fn) if dn not in ("__eq__", "__ne__") else _eq_op(_binop(fn), fn))
    for dn, fn in B.OPERATORS.items():  # & | ^ << >> ~ and their reflections
        setattr(T, dn, fn)
    T.__getitem__ = _getitem
    T.__setitem__ = lambda s, idx, v: _setitem(s, _norm_index(idx), v)
    T.__iadd__ = _no_array(_mk_inplace("add_", E.add))
    T.__isub__ = _no_array(_mk_inplace("sub_", E.sub))
    T.__imul__ = _no_array(_mk_inplace("mul_", E.mul))
    T.__itruediv__ = _no_array(_mk_inplace("div_", E.div))
    T.__ipow__ = _mk_inplace("pow_", E.pow)
    T.__iand__ = _mk_inplace("bitwise_and_", B.bitwise_and)
    T.__ior__ = _mk_inplace("bitwise_or_", B.bitwise_or)
    T.__ixor__ = _mk_inplace("bitwise_xor_", B.bitwise_xor)
    T.__ilshift__ = _mk_inplace("bitwise_left_shift_", B.bitwise_left_shift)
    T.__irshift__ = _mk_inplace("bitwise_right_shift_", B.bitwise_right_shift)
    T.__ifloordiv__ = _mk_inplace("floor_divide_", lambda a, b: div(a, b, rounding_mode="floor"))
    T.__imod__ = _mk_inplace("remainder_", E.remainder)
    T.__imatmul__ = _mk_inplace("matmul_", M.matmul)


_EXPORTS = {}  # jitgrad.<name> -> function, for jitgrad.ops.exports


def _install_entry(e):
    """Tensor methods, in-place forms and the jitgrad export of one ``public`` entry."""
    T = Tensor
    m = e.method
    if m is not None:
        shown = m
        if e.axis or e.shape_kw:
            shown = kw_alias(m, axis_to_dim=e.axis, positional=e.shape_kw)
        for n in e.names:
            setattr(T, n, shown)
            if e.inplace == "view":
                setattr(T, n + "_", _view_inplace(n + "_", m))
            elif e.inplace:
                setattr(T, n + "_", _mk_inplace(n + "_", m))
    if e.export:
        late = _install_entry in _INSTALLERS  # declared after ``import jitgrad`` (a toy op)
        for n in e.names:
            f = with_out(e.fn, n) if e.out else e.fn
            if e.axis or e.shape_kw:
                f = kw_alias(f, axis_to_dim=e.axis, positional=e.shape_kw)
            _EXPORTS[n] = f
            for mod in ("jitgrad.ops.exports", "jitgrad") if late else ():
                if mod in sys.modules:
                    setattr(sys.modules[mod], n, f)


def _install():
    T = Tensor
    for name, fn in _METHODS.items():
        setattr(T, name, fn)
    for name, fn in _PROPERTIES.items():
        setattr(T, name, property(fn))
    T.name = None
    for e in dict.fromkeys(SURFACE.values()):  # each entry once, in declaration order
        _install_entry(e)
    _INSTALLERS.append(_install_entry)
    _install_operators(T)
    from .. import return_types as _rt

    R.return_types.max = _rt.max
    R.return_types.min = _rt.min


def entries():
    """Every public-op entry once (``registry.Api``), in declaration order."""
    return list(dict.fromkeys(SURFACE.values()))


_install()
