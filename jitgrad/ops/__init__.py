"""All ops, and the Tensor methods and operators that call them."""

import numpy as np

from .. import _dtype
from ..tensor import Tensor
from . import elementwise as E
from . import matmul as M
from . import movement as V
from . import reduce as R
from ._common import cast, promote
from .inplace import inplace
from .registry import PRIMITIVES, apply, register  # noqa: F401


def add(input, other, *, alpha=1):
    """``input + alpha * other`` with broadcasting."""
    if isinstance(alpha, Tensor) or alpha != 1:
        other = other * alpha
    return E.add(input, other)


def sub(input, other, *, alpha=1):
    if isinstance(alpha, Tensor) or alpha != 1:
        other = other * alpha
    return E.sub(input, other)


subtract = sub
multiply = mul = E.mul


def div(input, other, *, rounding_mode=None):
    """True division; ``rounding_mode='floor'`` or ``'trunc'`` rounds the quotient."""
    if rounding_mode is None:
        return E.div(input, other)
    if rounding_mode == "floor":
        a, b = promote("div", input, other)
        if a._data.dtype.kind in "iu":
            return E.floor_divide(a, b)
        return E.floor(E.div(a, b))
    if rounding_mode == "trunc":
        a, b = promote("div", input, other)
        q = E.trunc(E.div(a, b))
        return q if a._data.dtype.kind == "f" else q.to(a._data.dtype)
    raise RuntimeError(
        f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
        f"found '{rounding_mode}'"
    )


divide = true_divide = div


def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2``."""
    p = tensor1 * tensor2
    return input + (p * value if isinstance(value, Tensor) or value != 1 else p)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2``."""
    q = tensor1 / tensor2
    return input + (q * value if isinstance(value, Tensor) or value != 1 else q)


def to(self, *args, **kwargs):
    """``t.to(dtype)``; a device of 'cpu' is accepted, copy=True forces a copy."""
    dtype = kwargs.get("dtype")
    copy = kwargs.get("copy", False)
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif (
            isinstance(a, (_dtype.DType, type))
            or (isinstance(a, str) and a in _dtype._NAMES)
            or isinstance(a, np.dtype)
        ):
            dtype = a
        elif str(a) not in ("cpu", "device(type='cpu')"):
            raise RuntimeError(f"to(): jitgrad eager tensors live on the CPU (got {a!r})")
    dev = kwargs.get("device")
    if dev is not None and str(dev) not in ("cpu", "device(type='cpu')"):
        raise RuntimeError(f"to(): jitgrad eager tensors live on the CPU (got {dev!r})")
    r = self if dtype is None else cast(self, _dtype.to_np(dtype))
    return r.clone() if copy and r is self else r


def _type(self, dtype=None):
    if dtype is None:
        return {
            "float32": "jitgrad.FloatTensor",
            "float64": "jitgrad.DoubleTensor",
            "int64": "jitgrad.LongTensor",
            "int32": "jitgrad.IntTensor",
            "bool": "jitgrad.BoolTensor",
        }.get(self.dtype.name, "jitgrad.Tensor")
    return to(self, dtype)


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
            value = Tensor(np.asarray(value))
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


def _uniform_(self, a=0.0, b=1.0, generator=None):
    from ..creation import rand

    return inplace(
        self,
        lambda s: rand(*s.shape, dtype=s.dtype, generator=generator) * (b - a) + a,
        (),
        "uniform_",
    )


def _normal_(self, mean=0.0, std=1.0, generator=None):
    from ..creation import randn

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


def _install():
    T = Tensor
    ew = {
        n: getattr(E, n)
        for n in (
            "exp",
            "exp2",
            "log",
            "log2",
            "log10",
            "log1p",
            "expm1",
            "sqrt",
            "rsqrt",
            "abs",
            "sin",
            "cos",
            "tan",
            "asin",
            "acos",
            "atan",
            "sinh",
            "cosh",
            "tanh",
            "sigmoid",
            "relu",
            "reciprocal",
            "erf",
            "sign",
            "floor",
            "ceil",
            "trunc",
            "round",
            "isnan",
            "isinf",
            "isfinite",
            "logical_not",
            "neg",
            "pow",
            "maximum",
            "minimum",
            "atan2",
            "eq",
            "ne",
            "lt",
            "le",
            "gt",
            "ge",
            "logical_and",
            "logical_or",
            "logical_xor",
            "clamp",
            "clip",
            "lerp",
            "square",
            "fmod",
            "remainder",
            "bitwise_and",
            "bitwise_or",
            "bitwise_xor",
            "floor_divide",
        )
    }
    ew.update(
        {
            "arcsin": E.asin,
            "arccos": E.acos,
            "arctan": E.atan,
            "arctan2": E.atan2,
            "negative": E.neg,
            "absolute": E.abs,
            "greater": E.gt,
            "less": E.lt,
            "greater_equal": E.ge,
            "less_equal": E.le,
            "not_equal": E.ne,
            "clone": E.clone,
            "where": lambda self, cond, other: E.where(cond, self, other),
            "add": add,
            "sub": sub,
            "subtract": sub,
            "mul": E.mul,
            "multiply": E.mul,
            "div": div,
            "divide": div,
            "true_divide": div,
            "addcmul": addcmul,
            "addcdiv": addcdiv,
            "to": to,
            "type": _type,
            "float": lambda s: to(s, np.float32),
            "double": lambda s: to(s, np.float64),
            "half": lambda s: to(s, np.float16),
            "long": lambda s: to(s, np.int64),
            "int": lambda s: to(s, np.int32),
            "bool": lambda s: to(s, np.bool_),
            "short": lambda s: to(s, np.int16),
            "byte": lambda s: to(s, np.uint8),
            "type_as": lambda s, o: to(s, o.dtype),
            "cpu": lambda s: s,
            "contiguous": lambda s, memory_format=None: (
                s if s._data.flags.c_contiguous else E.clone(s)
            ),
            "clamp_min": lambda s, m: E.clamp(s, min=m),
            "clamp_max": lambda s, m: E.clamp(s, max=m),
            "cuda": _no_cuda,
        }
    )
    red = {
        n: getattr(R, n)
        for n in (
            "sum",
            "mean",
            "prod",
            "amax",
            "amin",
            "argmax",
            "argmin",
            "max",
            "min",
            "var",
            "std",
            "logsumexp",
            "softmax",
            "log_softmax",
            "norm",
            "any",
            "all",
            "cumsum",
        )
    }
    mov = {
        n: getattr(V, n)
        for n in (
            "reshape",
            "view",
            "flatten",
            "unflatten",
            "squeeze",
            "unsqueeze",
            "permute",
            "transpose",
            "swapaxes",
            "t",
            "expand",
            "expand_as",
            "repeat",
            "narrow",
            "split",
            "chunk",
            "unbind",
            "select",
            "index_select",
            "masked_select",
            "masked_fill",
            "gather",
            "scatter_add",
            "flip",
            "movedim",
            "nonzero",
            "take_along_dim",
        )
    }
    mov.update(
        {
            "view_as": lambda s, o: V.view(s, *o.shape),
            "reshape_as": lambda s, o: V.reshape(s, *o.shape),
            "broadcast_to": V.broadcast_to,
        }
    )
    mm = {"matmul": M.matmul, "mm": M.mm, "bmm": M.bmm, "dot": M.dot, "mv": M.mv, "outer": M.outer}
    for table in (ew, red, mov, mm):
        for name, fn in table.items():
            setattr(T, name, fn)

    T.__add__ = _binop(E.add)
    T.__radd__ = _rbinop(E.add)
    T.__sub__ = _binop(E.sub)
    T.__rsub__ = _rbinop(E.sub)
    T.__mul__ = _binop(E.mul)
    T.__rmul__ = _rbinop(E.mul)
    T.__truediv__ = _binop(E.div)
    T.__rtruediv__ = _rbinop(E.div)
    T.__floordiv__ = _binop(lambda a, b: div(a, b, rounding_mode="floor"))
    T.__rfloordiv__ = _rbinop(E.floor_divide)
    T.__mod__ = _binop(E.remainder)
    T.__rmod__ = _rbinop(E.remainder)
    T.__pow__ = _binop(E.pow)
    T.__rpow__ = _rbinop(E.pow)
    T.__matmul__ = lambda s, o: M.matmul(s, o) if isinstance(o, Tensor) else NotImplemented
    T.__rmatmul__ = lambda s, o: NotImplemented
    T.__neg__ = E.neg
    T.__pos__ = lambda s: s
    T.__abs__ = E.abs
    T.__invert__ = lambda s: E.logical_not(s) if s._data.dtype == np.bool_ else _bitnot(s)
    for dn, fn in (
        ("__eq__", E.eq),
        ("__ne__", E.ne),
        ("__lt__", E.lt),
        ("__le__", E.le),
        ("__gt__", E.gt),
        ("__ge__", E.ge),
        ("__and__", E.bitwise_and),
        ("__or__", E.bitwise_or),
        ("__xor__", E.bitwise_xor),
    ):
        setattr(T, dn, _binop(fn))
    T.__rand__ = _rbinop(E.bitwise_and)
    T.__ror__ = _rbinop(E.bitwise_or)
    T.__hash__ = lambda s: id(s)
    T.__getitem__ = V.getitem
    T.__setitem__ = _setitem

    # in-place forms: out-of-place op, then written back
    def mk(name, fn):
        def m(self, *args, **kwargs):
            return inplace(self, lambda s: fn(s, *args, **kwargs), args, name)

        m.__name__ = name
        return m

    for base in (
        "add",
        "sub",
        "mul",
        "div",
        "pow",
        "clamp",
        "clamp_min",
        "clamp_max",
        "neg",
        "exp",
        "log",
        "sqrt",
        "abs",
        "sigmoid",
        "tanh",
        "relu",
        "floor",
        "ceil",
        "round",
        "trunc",
        "sign",
        "reciprocal",
        "masked_fill",
        "addcmul",
        "addcdiv",
        "lerp",
        "sin",
        "cos",
        "fmod",
        "remainder",
        "t",
        "transpose",
        "squeeze",
        "unsqueeze",
        "logical_not",
        "clip",
        "scatter_add",
        "maximum",
        "minimum",
        "log1p",
        "expm1",
        "erf",
    ):
        if base in ("t", "transpose", "squeeze", "unsqueeze"):
            continue
        setattr(T, base + "_", mk(base + "_", getattr(T, base)))
    T.__iadd__ = mk("add_", E.add)
    T.__isub__ = mk("sub_", E.sub)
    T.__imul__ = mk("mul_", E.mul)
    T.__itruediv__ = mk("div_", E.div)
    T.__ipow__ = mk("pow_", E.pow)
    T.__iand__ = mk("bitwise_and_", E.bitwise_and)
    T.__ior__ = mk("bitwise_or_", E.bitwise_or)
    T.zero_ = lambda self: inplace(self, lambda s: _fill(s, 0), (), "zero_")
    T.fill_ = lambda self, value: inplace(self, lambda s: _fill(s, value), (value,), "fill_")
    T.copy_ = lambda self, src, non_blocking=False: inplace(
        self, lambda s: _copy(s, src), (src,), "copy_"
    )
    T.uniform_ = _uniform_
    T.normal_ = _normal_
    T.bernoulli_ = _bernoulli_
    T.new_zeros = lambda s, *size, dtype=None, requires_grad=False: _new_like(
        s, "zeros", size, dtype, requires_grad
    )
    T.new_ones = lambda s, *size, dtype=None, requires_grad=False: _new_like(
        s, "ones", size, dtype, requires_grad
    )
    T.new_empty = lambda s, *size, dtype=None, requires_grad=False: _new_like(
        s, "empty", size, dtype, requires_grad
    )
    T.new_full = lambda s, size, fill_value, dtype=None, requires_grad=False: _full_like(
        s, size, fill_value, dtype, requires_grad
    )
    T.new_tensor = lambda s, data, dtype=None, requires_grad=False: _new_tensor(
        s, data, dtype, requires_grad
    )


def _bitnot(s):
    from .registry import const

    return E.sub(const(-1, s._data.dtype), s)


def _no_cuda(self, *a, **k):
    raise RuntimeError(
        "jitgrad eager tensors live on the CPU; use jitgrad.trace(device='cuda') "
        "to compile a step for the GPU"
    )


def _new_like(s, kind, size, dtype, requires_grad):
    from .. import creation

    return getattr(creation, kind)(*size, dtype=dtype or s.dtype, requires_grad=requires_grad)


def _full_like(s, size, fill_value, dtype, requires_grad):
    from .. import creation

    return creation.full(size, fill_value, dtype=dtype or s.dtype, requires_grad=requires_grad)


def _new_tensor(s, data, dtype, requires_grad):
    from .. import creation

    return creation.tensor(data, dtype=dtype or s.dtype, requires_grad=requires_grad)


_install()
