"""Elementwise primitives: every rule of an op side by side.

Each op: NumPy implementation, VJP in jitgrad ops, and a scalar template (``{0}``, ``{1}``
are the operands) that the code generators paste into fused loop bodies.
"""

import math

import numpy as np
import scipy.special as _sp

from .. import _dtype
from ..tensor import Tensor
from . import buffers
from ._common import (
    broadcast_shapes,
    cast,
    promote,
    promote_float,
    require_float,
    select_or_zero,
    sum_to,
)
from .registry import Identity, apply, const, label, public, register

np.seterr(divide="ignore", invalid="ignore", over="ignore", under="ignore")


def _zeros_vjp(g, out, *xs, **p):
    return tuple(g * 0 if i == 0 else None for i in range(len(xs)))


# ---------------------------------------------------------------- unary -------------------
def _unary(
    name,
    ref,
    vjp,
    scalar,
    saves=(0,),
    saves_out=False,
    float_only=True,
    nondiff=False,
    backward_name=None,
    api=True,
):
    """Register unary primitive ``name`` and return its public function ``jitgrad.<name>``.

    ``api``: True (``jitgrad.<name>`` and ``Tensor.<name>``), a dict of more ``public``
    facts (``inplace``, ``aliases``), or False for an internal op.
    """
    prim = register(
        name,
        "elementwise",
        ref,
        vjp=None if nondiff else vjp,
        scalar=scalar,
        saves=saves,
        saves_out=saves_out,
        nondiff=nondiff,
        backward_name=backward_name,
    )

    def fn(input):
        if not isinstance(input, Tensor):
            raise TypeError(
                f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}"
            )
        if float_only and input._data.dtype.kind != "f":
            (input,) = promote_float(name, input)
        return apply(prim, (input,))

    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name}: ``jitgrad.{name}(x)``."
    fn.prim = prim
    _publish(fn, prim, api)
    return fn


def _publish(fn, prim, api):
    if api:  # an elementwise function takes out= (torch's do, relu aside)
        public(fn, prim.name, prim=prim, **{"out": True, **({} if api is True else api)})


def _has_bool(*xs):
    return any(isinstance(x, Tensor) and x._data.dtype.kind == "b" for x in xs)


_BIG = buffers.MIN_BYTES


def _recycled(ufunc):
    """``ufunc(a, b)`` for operands of one dtype, its result in an array from ``buffers``
    when it is large: a repeating eager step then faults no fresh pages in for it (a small
    CNN's bias adds alone faulted ~690 pages a step)."""

    def f(a, b, **kwargs):
        if (
            kwargs
            or a.__class__ is not np.ndarray  # NumPy scalars, Python numbers (constant folding)
            or b.__class__ is not np.ndarray
            or a.dtype is not b.dtype
            or (a.nbytes < _BIG and b.nbytes < _BIG)
        ):
            return ufunc(a, b, **kwargs)
        shape = a.shape if a.shape == b.shape else np.broadcast_shapes(a.shape, b.shape)
        return ufunc(a, b, out=buffers.empty(shape, a.dtype))

    f.__name__ = getattr(ufunc, "__name__", "f")
    return f


def _relu_ref(x):
    if x.__class__ is not np.ndarray or x.nbytes < _BIG:
        return np.maximum(x, 0, dtype=x.dtype)
    return np.maximum(x, 0, dtype=x.dtype, out=buffers.empty(x.shape, x.dtype))


def _bool_refused(ufunc, message):
    """``ufunc`` with NumPy's TypeError on bool arrays turned into torch's RuntimeError."""

    def f(*arrays, **kwargs):
        try:
            return ufunc(*arrays, **kwargs)
        except TypeError:
            if all(getattr(a, "dtype", None) == np.bool_ for a in arrays):
                raise RuntimeError(message) from None
            raise

    f.__name__ = ufunc.__name__
    return f


neg = _unary(
    "neg",
    _bool_refused(
        np.negative,
        "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
        "invert a mask, use the `~` or `logical_not()` operator instead.",
    ),
    lambda g, o, x: (apply(neg_p, (g,)),),
    "(-{0})",
    saves=(),
    float_only=False,
    api={"inplace": True, "aliases": ("negative",)},
)
neg_p = neg.prim
exp = _unary(
    "exp",
    np.exp,
    lambda g, o, x: _mul_out_vjp(g, o, x),
    "math.exp({0})",
    saves=(),
    saves_out=True,
    api={"inplace": True},
)
exp2 = _unary(
    "exp2",
    np.exp2,
    lambda g, o, x: (g * o * math.log(2.0),),
    "math.pow(2.0, {0})",
    saves=(),
    saves_out=True,
    api={"inplace": True},
)
log = _unary("log", np.log, lambda g, o, x: (g / x,), "math.log({0})", api={"inplace": True})
log2 = _unary(
    "log2",
    np.log2,
    lambda g, o, x: (g / (x * math.log(2.0)),),
    "math.log2({0})",
    api={"inplace": True},
)
log10 = _unary(
    "log10",
    np.log10,
    lambda g, o, x: (g / (x * math.log(10.0)),),
    "math.log10({0})",
    api={"inplace": True},
)
log1p = _unary(
    "log1p", np.log1p, lambda g, o, x: (g / (x + 1),), "math.log1p({0})", api={"inplace": True}
)
expm1 = _unary(
    "expm1",
    np.expm1,
    lambda g, o, x: (g * (o + 1),),
    "math.expm1({0})",
    saves=(),
    saves_out=True,
    api={"inplace": True},
)
sqrt = _unary(
    "sqrt",
    np.sqrt,
    lambda g, o, x: (g / (o * 2),),
    "math.sqrt({0})",
    saves=(),
    saves_out=True,
    api={"inplace": True},
)
rsqrt = _unary(
    "rsqrt",
    lambda x: 1 / np.sqrt(x),
    lambda g, o, x: (g * o * o * o * -0.5,),
    "(1.0 / math.sqrt({0}))",
    saves=(),
    saves_out=True,
    api={"inplace": True},
)


def _abs(x, **kwargs):
    if x.dtype == np.bool_:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
    return np.abs(x, **kwargs)


abs = _unary(
    "abs",
    _abs,
    lambda g, o, x: (g * sign(x),),
    "abs({0})",
    float_only=False,
    api={"inplace": True, "aliases": ("absolute",)},
)
sin = _unary("sin", np.sin, lambda g, o, x: (g * cos(x),), "math.sin({0})", api={"inplace": True})
cos = _unary("cos", np.cos, lambda g, o, x: (-g * sin(x),), "math.cos({0})", api={"inplace": True})
tan = _unary(
    "tan",
    np.tan,
    lambda g, o, x: (g * (o * o + 1),),
    "math.tan({0})",
    saves=(),
    saves_out=True,
    api={"inplace": True},
)
asin = _unary(
    "asin",
    np.arcsin,
    lambda g, o, x: (g * rsqrt(1 - x * x),),
    "math.asin({0})",
    api={"inplace": True, "aliases": ("arcsin",)},
)
acos = _unary(
    "acos",
    np.arccos,
    lambda g, o, x: (-g * rsqrt(1 - x * x),),
    "math.acos({0})",
    api={"inplace": True, "aliases": ("arccos",)},
)
atan = _unary(
    "atan",
    np.arctan,
    lambda g, o, x: (g / (x * x + 1),),
    "math.atan({0})",
    api={"inplace": True, "aliases": ("arctan",)},
)
sinh = _unary(
    "sinh", np.sinh, lambda g, o, x: (g * cosh(x),), "math.sinh({0})", api={"inplace": True}
)
cosh = _unary(
    "cosh", np.cosh, lambda g, o, x: (g * sinh(x),), "math.cosh({0})", api={"inplace": True}
)
tanh = _unary(
    "tanh",
    np.tanh,
    lambda g, o, x: (tanh_backward(g, o),),
    "math.tanh({0})",
    saves=(),
    saves_out=True,
    api={"inplace": True},
)


def _sigmoid_ref(x):
    # one ufunc: scipy's expit is stable for large |x| and keeps float32 in float32
    r = _expit(x)
    if r.dtype != x.dtype:  # float16 is computed in float32
        r = r.astype(x.dtype)
    return r


_expit = _sp.expit

sigmoid = _unary(
    "sigmoid",
    _sigmoid_ref,
    lambda g, o, x: (sigmoid_backward(g, o),),
    "(1.0 / (1.0 + math.exp(-{0})))",
    saves=(),
    saves_out=True,
    api={"inplace": True},
)
relu = _unary(
    "relu",
    _relu_ref,
    lambda g, o, x: (relu_backward(g, o),),
    "max({0}, 0)",
    saves=(),
    saves_out=True,
    float_only=False,
    api={"inplace": True, "out": False},  # torch.relu takes no out=
)
reciprocal = _unary(
    "reciprocal",
    lambda x: 1 / x,
    lambda g, o, x: (-g * o * o,),
    "(1.0 / {0})",
    saves=(),
    saves_out=True,
    api={"inplace": True},
)
erf = _unary(
    "erf",
    lambda x: _sp.erf(x).astype(x.dtype, copy=False),
    lambda g, o, x: (g * exp(-x * x) * (2 / math.sqrt(math.pi)),),
    "math.erf({0})",
    api={"inplace": True},
)


def _sign_ref(x):
    """np.sign with 0 at NaN, as torch (and the compiled template)."""
    s = np.sign(x)
    if x.dtype.kind == "f":
        return np.where(np.isnan(x), x.dtype.type(0), s).astype(x.dtype, copy=False)
    return s


sign = _unary(
    "sign",
    lambda x: x.copy() if x.dtype == np.bool_ else _sign_ref(x),
    _zeros_vjp,
    "(({0} > 0) - ({0} < 0))",
    saves=(),
    float_only=False,
    api={"inplace": True},
)
floor = _unary(
    "floor",
    np.floor,
    _zeros_vjp,
    "math.floor({0})",
    saves=(),
    float_only=False,
    api={"inplace": True},
)
ceil = _unary(
    "ceil", np.ceil, _zeros_vjp, "math.ceil({0})", saves=(), float_only=False, api={"inplace": True}
)
trunc = _unary(
    "trunc",
    np.trunc,
    _zeros_vjp,
    "math.trunc({0})",
    saves=(),
    float_only=False,
    api={"inplace": True, "aliases": ("fix",)},
)
_round = _unary(
    "round", np.round, _zeros_vjp, "np.round({0})", saves=(), float_only=False, api=False
)
isnan = _unary("isnan", np.isnan, None, "math.isnan({0})", nondiff=True, float_only=False)
isinf = _unary("isinf", np.isinf, None, "math.isinf({0})", nondiff=True, float_only=False)
isfinite = _unary(
    "isfinite", np.isfinite, None, "math.isfinite({0})", nondiff=True, float_only=False
)
logical_not = _unary(
    "logical_not",
    np.logical_not,
    None,
    "(not {0})",
    nondiff=True,
    float_only=False,
    api={"inplace": True},
)


@public(inplace=True, prim=_round.prim, out=True)
def round(input, decimals=0):
    """Round half to even, like torch.round; zero gradient."""
    if decimals:
        s = 10.0**decimals
        return _round(input * s) / s
    return _round(input)


def _cast_vjp(g, o, x, dtype):
    return (g.to(x._data.dtype) if x._data.dtype.kind == "f" else None,)


def _cast_scalar(dtype):
    dt = np.dtype(dtype)
    return "({0} != 0)" if dt == np.bool_ else f"np.{dt.name}({{0}})"


cast_p = register(
    "cast",
    "elementwise",
    lambda x, dtype: x.astype(dtype),
    vjp=_cast_vjp,
    scalar=_cast_scalar,
    saves=(),
    backward_name="ToCopyBackward0",
    noop=lambda params, in_shape, out_shape: True,  # fold checks shape and dtype are the same
)
copy_p = register(
    "copy",
    "elementwise",
    lambda x: x.copy(),
    vjp=lambda g, o, x: (g,),
    scalar="{0}",
    saves=(),
    backward_name="CloneBackward0",
)


@public(prim=copy_p)
def clone(input, memory_format=None):
    """A copy with its own storage; gradients flow through."""
    return apply(copy_p, (input,))


# ---------------------------------------------------------------- binary ------------------
def _binary(
    name,
    ref,
    vjp,
    scalar,
    saves=(0, 1),
    saves_out=False,
    floating=False,
    nondiff=False,
    backward_name=None,
    out_bool=False,
    saves_for=None,
    identities=(),
    api=True,
    bool_error=None,
):
    """Register binary primitive ``name`` and return its public function (``api``: as
    ``_unary``'s; ``bool_error``: torch's message when an operand is a bool tensor)."""
    prim = register(
        name,
        "elementwise",
        ref,
        vjp=None if nondiff else vjp,
        scalar=scalar,
        saves=saves,
        saves_out=saves_out,
        saves_for=saves_for,
        nondiff=nondiff,
        backward_name=backward_name,
        identities=identities,
    )
    prep = promote_float if floating else promote

    def fn(input, other):
        if (
            input.__class__ is Tensor
            and other.__class__ is Tensor
            and input._data.dtype is other._data.dtype
            and (not floating or input._data.dtype.kind == "f")
        ):
            a, b = input, other  # the hot path: nothing to promote
        else:
            if bool_error is not None and _has_bool(input, other):
                raise RuntimeError(bool_error)
            a, b = prep(name, input, other)
        try:
            return apply(prim, (a, b))
        except ValueError:
            broadcast_shapes(name, a._data.shape, b._data.shape)
            raise

    # Tensor operators: the same as ``fn`` one call frame shorter, NotImplemented for
    # operands that are neither Tensors nor numbers
    def op(self, other):
        c = other.__class__
        if c is Tensor:
            if (
                self.__class__ is Tensor
                and self._data.dtype is other._data.dtype
                and (not floating or self._data.dtype.kind == "f")
            ):
                try:
                    return apply(prim, (self, other))
                except ValueError:
                    broadcast_shapes(name, self._data.shape, other._data.shape)
                    raise
            return fn(self, other)
        if c is float:
            if self.__class__ is Tensor:
                dt = self._data.dtype
                if dt.kind == "f":  # a Python float never upcasts a floating tensor
                    return apply(prim, (self, const(other, dt)))
            return fn(self, other)
        if c is int or isinstance(other, _NUMBER):
            return fn(self, other)
        return NotImplemented

    def rop(self, other):
        c = other.__class__
        if c is float:
            if self.__class__ is Tensor:
                dt = self._data.dtype
                if dt.kind == "f":
                    return apply(prim, (const(other, dt), self))
            return fn(other, self)
        if c is int or isinstance(other, _RNUMBER):
            return fn(other, self)  # fn promotes the number to a constant of self's dtype
        return NotImplemented

    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} with broadcasting: ``jitgrad.{name}(a, b)``."
    fn.prim = prim
    fn.op = op
    fn.rop = rop
    _publish(fn, prim, api)
    return fn


_NUMBER = (Tensor, int, float, bool, np.number, np.bool_)
_RNUMBER = _NUMBER[1:]


# Binary VJPs skip inputs that need no gradient (constants from Python scalars, data):
# the engine would drop those gradients anyway.
def _add_vjp(g, o, a, b):
    ga = gb = None
    if a._requires_grad:
        ga = g if g._data.shape == a._data.shape else sum_to(g, a._data.shape)
    if b._requires_grad:
        gb = g if g._data.shape == b._data.shape else sum_to(g, b._data.shape)
    return ga, gb


def _sub_vjp(g, o, a, b):
    ga = gb = None
    if a._requires_grad:
        ga = g if g._data.shape == a._data.shape else sum_to(g, a._data.shape)
    if b._requires_grad:
        gb = apply(neg_p, (g,))
        if gb._data.shape != b._data.shape:
            gb = sum_to(gb, b._data.shape)
    return ga, gb


# VJPs call ``apply`` directly when the operands already share a dtype (they nearly always
# do: a gradient has its output's dtype); otherwise the operator promotes as usual
def _mul_vjp(g, o, a, b):
    ga = gb = None
    gd = g._data.dtype
    if a._requires_grad:
        ga = apply(_mul_p, (g, b)) if b._data.dtype is gd else g * b
        if ga._data.shape != a._data.shape:
            ga = sum_to(ga, a._data.shape)
    if b._requires_grad:
        gb = apply(_mul_p, (g, a)) if a._data.dtype is gd else g * a
        if gb._data.shape != b._data.shape:
            gb = sum_to(gb, b._data.shape)
    return ga, gb


def _div_vjp(g, o, a, b):
    ga = gb = None
    if a._requires_grad:
        ga = apply(_div_p, (g, b)) if b._data.dtype is g._data.dtype else g / b
        if ga._data.shape != a._data.shape:
            ga = sum_to(ga, a._data.shape)
    if b._requires_grad:
        gb = div_backward_rhs(g, a, b)
        if gb._data.shape != b._data.shape:
            gb = sum_to(gb, b._data.shape)
    return ga, gb


def _mul_out_vjp(g, o, x):
    """``g * o``: the VJP of ops whose derivative is their output (exp)."""
    return (apply(_mul_p, (g, o)) if o._data.dtype is g._data.dtype else g * o,)


def _pow_vjp(g, o, a, b):
    ga = gb = None
    if a._requires_grad:
        ga = sum_to(where(b == 0, 0.0, g * b * pow(a, b - 1)), a._data.shape)  # x ** 0: 0
    if b._requires_grad:
        gb = sum_to(where((a == 0) & (b >= 0), 0, g * o * log(a)), b._data.shape)
    return ga, gb


def _max_vjp(g, o, a, b):
    ga = gb = None
    if a._requires_grad:
        ga = sum_to(where(a == b, g / 2, where(a > b, g, 0)), a._data.shape)
    if b._requires_grad:
        gb = sum_to(where(a == b, g / 2, where(a < b, g, 0)), b._data.shape)
    return ga, gb


def _min_vjp(g, o, a, b):
    ga = gb = None
    if a._requires_grad:
        ga = sum_to(where(a == b, g / 2, where(a < b, g, 0)), a._data.shape)
    if b._requires_grad:
        gb = sum_to(where(a == b, g / 2, where(a > b, g, 0)), b._data.shape)
    return ga, gb


def _atan2_vjp(g, o, a, b):
    d = a * a + b * b
    d = where(d == 0, math.inf, d)  # atan2(0, 0): zero gradient, as torch
    return (
        sum_to(g * b / d, a._data.shape) if a._requires_grad else None,
        sum_to(-g * a / d, b._data.shape) if b._requires_grad else None,
    )


def _true_div(a, b, **kwargs):
    return np.true_divide(a, b, **kwargs)  # operands share a floating dtype (promote_float)


# identities for constant folding: x + -0.0 and x - 0.0 are x for every float (x + 0.0 is not:
# -0.0 + 0.0 is +0.0); x * 0 and x - x are 0 only for integers (NaN and inf give NaN)
_X = "x"
add = _binary(
    "add",
    _recycled(np.add),
    _add_vjp,
    "({0} + {1})",
    saves=(),
    identities=(
        Identity(1, -0.0, _X, "ieee"),
        Identity(0, -0.0, _X, "ieee"),
        Identity(1, 0.0, _X, "int"),
        Identity(0, 0.0, _X, "int"),
    ),
    api=False,
)
sub = _binary(
    "sub",
    _bool_refused(
        _recycled(np.subtract),
        "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
        "`logical_xor()` operator instead.",
    ),
    _sub_vjp,
    "({0} - {1})",
    saves=(),
    identities=(
        Identity(1, 0.0, _X, "ieee"),
        Identity(1, -0.0, _X, "int"),
        Identity(None, None, 0, "int"),
    ),
    api=False,
    bool_error="Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
    "trying to invert a mask, use the `~` or `logical_not()` operator instead.",
)
mul = _binary(
    "mul",
    _recycled(np.multiply),
    _mul_vjp,
    "({0} * {1})",
    saves_for={0: (1,), 1: (0,)},
    identities=(
        Identity(1, 1, _X, "ieee"),
        Identity(0, 1, _X, "ieee"),
        Identity(1, 0.0, 0, "int"),
        Identity(0, 0.0, 0, "int"),
        Identity(1, -0.0, 0, "int"),
        Identity(0, -0.0, 0, "int"),
    ),
    api={"inplace": True, "aliases": ("multiply",)},
)
div = _binary(
    "div",
    _recycled(_true_div),
    _div_vjp,
    "({0} / {1})",
    floating=True,
    saves_for={0: (1,), 1: (0, 1)},
    identities=(Identity(1, 1, _X, "ieee"), Identity(None, None, 1, "fast")),
    api=False,
)
pow_ = _binary(
    "pow",
    np.power,
    _pow_vjp,
    "({0} ** {1})",
    saves_out=True,
    saves_for={0: (0, 1), 1: (0,)},
    api=False,
)
# a NaN on either side gives NaN, as np.maximum and torch (Python's max(a, b) kept a when b
# was NaN: compiled steps differed from eager there)
maximum = _binary(
    "maximum",
    _recycled(np.maximum),
    _max_vjp,
    "({1} if ({1} > {0}) | ({1} != {1}) else {0})",
    api={"inplace": True},
)
minimum = _binary(
    "minimum",
    _recycled(np.minimum),
    _min_vjp,
    "({1} if ({1} < {0}) | ({1} != {1}) else {0})",
    api={"inplace": True},
)
atan2 = _binary(
    "atan2",
    np.arctan2,
    _atan2_vjp,
    "math.atan2({0}, {1})",
    floating=True,
    api={"inplace": True, "aliases": ("arctan2",)},
)
_mul_p = mul.prim
_div_p = div.prim


def _predicate(name, fn, sym, aliases=(), api=True):
    """A binary op without a gradient whose scalar template is ``({0} sym {1})``."""
    surface = {"inplace": True, "aliases": aliases} if api else False
    return _binary(name, fn, None, f"({{0}} {sym} {{1}})", nondiff=True, api=surface)


eq = _predicate("eq", np.equal, "==")
ne = _predicate("ne", np.not_equal, "!=", ("not_equal",))
lt = _predicate("lt", np.less, "<", ("less",))
le = _predicate("le", np.less_equal, "<=", ("less_equal",))
gt = _predicate("gt", np.greater, ">", ("greater",))
ge = _predicate("ge", np.greater_equal, ">=", ("greater_equal",))
logical_and = _predicate("logical_and", np.logical_and, "and")
logical_or = _predicate("logical_or", np.logical_or, "or")
logical_xor = _predicate("logical_xor", np.logical_xor, "!=")
bitwise_and = _predicate("bitwise_and", np.bitwise_and, "&", api=False)
bitwise_or = _predicate("bitwise_or", np.bitwise_or, "|", api=False)
bitwise_xor = _predicate("bitwise_xor", np.bitwise_xor, "^", api=False)
floor_divide = _predicate("floor_divide", np.floor_divide, "//")


def _int_checked(name, ref):
    """``ref`` that raises torch's error for an integer divisor of 0 (NumPy gives 0 and warns)."""

    def impl(a, b):
        if np.asarray(b).dtype.kind in "iu" and np.asarray(a).dtype.kind in "iu" and not np.all(b):
            raise RuntimeError(
                f"ZeroDivisionError: integer division by zero ({name} on "
                f"{np.result_type(a, b).name} tensors)"
            )
        return ref(a, b)

    impl.__name__ = name
    return impl


remainder = _binary(
    "remainder",
    _int_checked("remainder", np.remainder),
    lambda g, o, a, b: (sum_to(g, a._data.shape), sum_to(-g * floor_divide(a, b), b._data.shape)),
    "({0} % {1})",
    saves=(0, 1),
    api={"inplace": True},
)
fmod = _binary(
    "fmod",
    _int_checked("fmod", np.fmod),
    lambda g, o, a, b: (sum_to(g, a._data.shape), sum_to(-g * trunc(a / b), b._data.shape)),
    "math.fmod({0}, {1})",
    api={"inplace": True},
)


# ------------------------------------------------------- fused backward ops --------------
# Backward formulas of common ops as one primitive each: one tape entry / one graph node per
# gradient instead of three or four (``g * (1 - y * y)``), and one fused loop for the compiler.
# Their own VJPs are jitgrad ops as usual, so gradients of gradients keep working.
def _fused(name, ref, vjp, scalar, backward_name):
    prim = register(
        name,
        "elementwise",
        ref,
        vjp=vjp,
        scalar=scalar,
        saves=None,
        backward_name=backward_name,
    )

    def fn(*xs):
        dt = xs[0]._data.dtype
        for x in xs:
            if x._data.dtype is not dt:
                xs = promote_float(name, *xs)
                break
        return apply(prim, xs)

    fn.__name__ = name
    fn.__doc__ = f"Fused backward formula ``{name}`` (``{scalar}``)."
    fn.prim = prim
    return fn


def _tanh_backward_vjp(gg, o, g, y):
    return (
        sum_to(tanh_backward(gg, y), g._data.shape) if g._requires_grad else None,
        sum_to(gg * g * y * -2, y._data.shape) if y._requires_grad else None,
    )


def _sigmoid_backward_vjp(gg, o, g, y):
    return (
        sum_to(sigmoid_backward(gg, y), g._data.shape) if g._requires_grad else None,
        sum_to(gg * g * (1 - y * 2), y._data.shape) if y._requires_grad else None,
    )


def _relu_backward_vjp(gg, o, g, y):
    return (
        sum_to(relu_backward(gg, y), g._data.shape) if g._requires_grad else None,
        sum_to(gg * 0, y._data.shape) if y._requires_grad else None,  # zero almost everywhere
    )


def _div_backward_rhs_vjp(gg, o, g, a, b):
    return (
        sum_to(div_backward_rhs(gg, a, b), g._data.shape) if g._requires_grad else None,
        sum_to(div_backward_rhs(gg, g, b), a._data.shape) if a._requires_grad else None,
        sum_to(gg * g * a * 2 / (b * b * b), b._data.shape) if b._requires_grad else None,
    )


def _relu_backward_ref(g, y):
    if y.__class__ is not np.ndarray or y.nbytes < _BIG:
        return select_or_zero(y > 0, g)
    return select_or_zero(np.greater(y, 0, out=buffers.empty(y.shape, np.bool_)), g)


# g * (1 - y * y): the gradient of tanh through its output y
tanh_backward = _fused(
    "tanh_backward",
    lambda g, y: g * (1 - y * y),
    _tanh_backward_vjp,
    "({0} * (1.0 - {1} * {1}))",
    "TanhBackwardBackward0",
)
# g * y * (1 - y): the gradient of sigmoid through its output y
sigmoid_backward = _fused(
    "sigmoid_backward",
    lambda g, y: g * y * (1 - y),
    _sigmoid_backward_vjp,
    "({0} * {1} * (1.0 - {1}))",
    "SigmoidBackwardBackward0",
)
# g where y > 0 else 0: the gradient of relu through its output y
relu_backward = _fused(
    "relu_backward",
    _relu_backward_ref,
    _relu_backward_vjp,
    "({0} if {1} > 0 else 0.0)",
    "ThresholdBackwardBackward0",
)
# -g * a / (b * b): the gradient of a / b with respect to b
div_backward_rhs = _fused(
    "div_backward_rhs",
    lambda g, a, b: -g * a / (b * b),
    _div_backward_rhs_vjp,
    "(-{0} * {1} / ({2} * {2}))",
    "MulBackward0",  # PyTorch's name: its formula -grad * ((a / b) / b) ends in a mul
)


def _clamped_log(x):
    """``max(log(x), -100)`` (torch's BCE clamp), 0 <= x <= 1, without log(0) warnings."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(x), x.dtype.type(-100))


def _bce_ref(x, t):
    # in float64, as the compiled loop computes it (its literals are float64), then cast back
    xd, td = x.astype(np.float64), t.astype(np.float64)
    return (-(td * _clamped_log(xd) + (1 - td) * _clamped_log(1 - xd))).astype(x.dtype)


def _bce_vjp(g, o, x, t):
    # torch's formulas: d/dx = (x - t) / max(x (1 - x), 1e-12), d/dt = log(1 - x) - log(x)
    gx = g * (x - t) / clamp(x * (1 - x), 1e-12) if x._requires_grad else None
    gt = g * ((1 - x).log() - x.log()) if t._requires_grad else None  # unclamped, as torch
    return (
        sum_to(gx, x._data.shape) if gx is not None else None,
        sum_to(gt, t._data.shape) if gt is not None else None,
    )


_BCE_LOG = "(max(math.log({a}), -100.0) if {a} > 0.0 else (-100.0 if {a} == 0.0 else math.nan))"
# -(t log(x) + (1 - t) log(1 - x)) with torch's clamp of the logs at -100, one fused loop
binary_cross_entropy_elementwise = _fused(
    "binary_cross_entropy",
    _bce_ref,
    _bce_vjp,
    "(-({1} * "
    + _BCE_LOG.format(a="{0}")
    + " + (1.0 - {1}) * "
    + _BCE_LOG.format(a="(1.0 - {0})")
    + "))",
    "BinaryCrossEntropyBackward0",
)


def _entr_ref(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            x > 0, -x * np.log(x), np.where(x == 0, 0, np.where(x < 0, -np.inf, x))
        ).astype(x.dtype)


# -x log x: 0 at 0, -inf below, NaN for NaN; torch's gradient -(log x + 1): inf at 0, NaN below
entr = _fused(
    "special_entr",
    _entr_ref,
    lambda g, o, x: (g * -(log(x) + 1),),
    "((-{0} * math.log({0})) if {0} > 0.0 else (0.0 if {0} == 0.0 else "
    "(-math.inf if {0} < 0.0 else {0})))",
    "SpecialEntrBackward0",
)

_powc_p = register(
    "pow_scalar",
    "elementwise",
    lambda x, exponent: np.power(x, x.dtype.type(exponent)),
    vjp=lambda g, o, x, exponent: (
        g * 0 if exponent == 0 else g * (exponent * pow(x, exponent - 1)),
    ),
    scalar=lambda exponent: (
        "({0} * {0})"
        if exponent == 2
        else "({0} * {0} * {0})"
        if exponent == 3
        else "math.sqrt({0})"
        if exponent == 0.5
        else f"({{0}} ** {_float_literal(exponent)})"
    ),
    saves=(0,),
    backward_name="PowBackward0",
)


def _float_literal(v):
    """``v`` as generated source: ``repr`` for finite floats, NumPy's names otherwise."""
    v = float(v)
    if math.isnan(v):
        return "np.nan"
    return repr(v) if math.isfinite(v) else ("np.inf" if v > 0 else "-np.inf")


def pow(input, exponent):
    """``input ** exponent`` elementwise; either may be a Python number."""
    if (
        isinstance(input, Tensor)
        and isinstance(exponent, (int, float))
        and not isinstance(exponent, bool)
    ):
        x = input
        if x._data.dtype.kind != "f" and (isinstance(exponent, float) or exponent < 0):
            if exponent < 0 and x._data.dtype.kind in "iu" and not isinstance(exponent, float):
                raise RuntimeError(
                    f"pow: Integers to negative integer powers are not allowed "
                    f"(tensor dtype {x.dtype}, exponent {exponent})"
                )
            (x,) = promote_float("pow", x)
        elif x._data.dtype == np.bool_:  # bool ** int is int64, as torch promotes
            x = cast(x, np.dtype(np.int64))
        if exponent == 1:
            return x * 1
        return apply(_powc_p, (x,), {"exponent": exponent})
    if not isinstance(input, Tensor):  # a scalar base: torch's PowBackward2, on the exponent
        return label(pow_(input, exponent), "PowBackward2", (exponent,))
    return label(pow_(input, exponent), "PowBackward1")


public(pow, out=True, inplace=True, prim=pow_.prim)


def _clamp_vjp(g, o, x, lo, hi):
    m = None
    if lo is not None:
        m = x >= lo
    if hi is not None:
        m = (x <= hi) if m is None else (m & (x <= hi))
    return (where(m, g, 0),)


def _clamp_ref(x, lo, hi):
    return np.clip(x, lo, hi).astype(x.dtype, copy=False)


def _lit(v):
    """A number literal for generated source (``np.inf``/``np.nan`` where repr would not do)."""
    if isinstance(v, (int, np.integer)):
        return repr(int(v))
    v = float(v)
    if math.isnan(v):
        return "np.nan"
    if math.isinf(v):
        return "np.inf" if v > 0 else "-np.inf"
    return repr(v)


def _clamp_scalar(lo, hi):
    s = "{0}"
    if lo is not None:
        s = f"max({s}, {_lit(lo)})"
    if hi is not None:
        s = f"min({s}, {_lit(hi)})"
    return s


_clamp_p = register(
    "clamp", "elementwise", _clamp_ref, vjp=_clamp_vjp, scalar=_clamp_scalar, saves=(0,)
)


@public(inplace=True, aliases=("clip",), prim=_clamp_p, out=True)
def clamp(input, min=None, max=None):
    """Limit values to ``[min, max]``; gradient passes where ``min <= x <= max``."""
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        if (
            min is not None
            and max is not None
            and isinstance(min, Tensor) != isinstance(max, Tensor)
        ):
            kinds = ", ".join(
                f"{k}={'Tensor' if isinstance(v, Tensor) else type(v).__name__}"
                for k, v in (("max", max), ("min", min))
            )
            raise TypeError(
                f"clamp() received an invalid combination of arguments - got (Tensor, {kinds}), "
                "but expected one of:\n * (Tensor input, Tensor min = None, Tensor max = None)\n"
                " * (Tensor input, Number min = None, Number max = None)"
            )
        # torch's clamp: at a tie the gradient goes to the input, not the bound (where, not
        # maximum/minimum, which split it)
        r = input
        if min is not None:
            r = where((r < min) | isnan(min), min, r)  # a NaN bound gives NaN, as torch
        if max is not None:
            r = where((r > max) | isnan(max), max, r)
        return r
    x = input
    if x._data.dtype.kind != "f" and (isinstance(min, float) or isinstance(max, float)):
        (x,) = promote_float("clamp", x)
    elif x._data.dtype == np.bool_ and not (isinstance(min, bool) or isinstance(max, bool)):
        x = cast(x, np.dtype(np.int64))  # bool clamped to int bounds is int64, as torch
    if x._data.dtype.kind == "f":
        min = None if min is None else float(min)
        max = None if max is None else float(max)
    elif x._data.dtype.kind in "iu":  # torch's overflow error for bounds the dtype can't hold
        from ..creation import check_fill_value

        min = None if min is None else check_fill_value(min, x._data.dtype)
        max = None if max is None else check_fill_value(max, x._data.dtype)
    return label(apply(_clamp_p, (x,), {"lo": min, "hi": max}), "ClampBackward1")


clip = clamp


def _where_vjp(g, o, c, a, b):
    return (
        None,
        sum_to(where(c, g, 0), a._data.shape) if a._requires_grad else None,
        sum_to(where(c, 0, g), b._data.shape) if b._requires_grad else None,
    )


where_p = register(
    "where", "elementwise", np.where, vjp=_where_vjp, scalar="({1} if {0} else {2})", saves=(0,)
)


def _fit_int(value, t):
    """A Python int scalar meeting integer tensor ``t`` in ``where``: torch's overflow error
    when ``t``'s dtype cannot hold it (a binary op would wrap it)."""
    if t._data.dtype.kind not in "iu":
        return value
    from ..creation import check_fill_value

    return check_fill_value(value, t._data.dtype)


@public(method=lambda self, condition, other: where(condition, self, other), prim=where_p, out=True)
def where(condition, input=None, other=None):
    """``input`` where ``condition`` else ``other`` (either may be a Python number)."""
    from ._common import to_tensor

    if input is None and other is None:
        from .movement import nonzero

        return nonzero(condition, as_tuple=True)
    c = to_tensor(condition, "where")
    if c._data.dtype != np.bool_:
        if c._data.dtype.kind not in "iub":
            raise RuntimeError(
                f"where: expected condition to be a boolean tensor, but got a tensor with dtype "
                f"{c.dtype}"
            )
        c = c != 0
    if isinstance(input, Tensor) and other.__class__ is int:
        other = _fit_int(other, input)
    elif isinstance(other, Tensor) and input.__class__ is int:
        input = _fit_int(input, other)
    a, b = promote("where", input, other)
    try:  # torch's node has no edge for the condition
        return label(apply(where_p, (c, a, b)), "WhereBackward0", (a, b))
    except ValueError:
        broadcast_shapes("where", c._data.shape, a._data.shape, b._data.shape)
        raise


@public(inplace=True, out=True)
def lerp(input, end, weight):
    if isinstance(input, Tensor):
        require_float("lerp_kernel_scalar", input)
    return input + weight * (end - input)


@public(inplace=True, out=True)
def square(input):
    return pow(input, 2)


def to_dtype(x, dtype):
    from ._common import cast

    return cast(x, _dtype.to_np(dtype))


sigmoid_ = sigmoid
