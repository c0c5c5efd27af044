"""Bitwise ops on integer and bool tensors (not differentiable): not, shifts, and the
dtype check ``and``/``or``/``xor`` share with them (PyTorch refuses floating tensors)."""

import numpy as np

from ..tensor import Tensor
from . import elementwise as E
from ._common import promote
from .registry import public

_NAMES = {"f": "Float", "d": "Double", "e": "Half"}


def _check(op, *xs):
    for x in xs:
        if isinstance(x, Tensor) and x._data.dtype.kind == "f":
            raise NotImplementedError(
                f"\"{op}_cpu\" not implemented for '{_NAMES.get(x._data.dtype.char, 'Float')}'"
                f" (bitwise ops need integer or bool tensors; convert with .long() or .bool())"
            )
        if isinstance(x, float):
            raise RuntimeError(f"{op}: a float operand is not supported by bitwise ops")


_not = E._unary("bitwise_not", np.invert, None, "(~{0})", nondiff=True, float_only=False, api=False)
_lsh = E._binary("bitwise_left_shift", np.left_shift, None, "({0} << {1})", nondiff=True, api=False)
_rsh = E._binary(
    "bitwise_right_shift", np.right_shift, None, "({0} >> {1})", nondiff=True, api=False
)


@public(inplace=True, prim=_not.prim, out=True)
def bitwise_not(input):
    """``~input`` (logical not for bool tensors)."""
    _check("bitwise_not", input)
    if isinstance(input, Tensor) and input._data.dtype == np.bool_:
        return E.logical_not(input)  # ``~`` in a generated loop would give -2 for True
    return _not(input)


def _checked(op, fn):
    def f(input, other):
        _check(op, input, other)
        return fn(input, other)

    f.__name__ = op
    f.__doc__ = f"Elementwise {op} of integer/bool tensors: ``jitgrad.{op}(a, b)``."
    return public(f, op, inplace=True, out=True, prim=fn.prim)


bitwise_and = _checked("bitwise_and", E.bitwise_and)
bitwise_or = _checked("bitwise_or", E.bitwise_or)
bitwise_xor = _checked("bitwise_xor", E.bitwise_xor)
bitwise_left_shift = _checked("bitwise_left_shift", _lsh)
bitwise_right_shift = _checked("bitwise_right_shift", _rsh)


def _reflect(fn):
    def r(self, other):
        if isinstance(other, (int, bool, np.integer, np.bool_)) or isinstance(other, Tensor):
            a, b = promote(fn.__name__, other, self)
            return fn(a, b)
        return NotImplemented

    return r


def _op(fn):
    def o(self, other):
        if isinstance(other, (int, bool, float, np.number, np.bool_, Tensor)):
            return fn(self, other)
        return NotImplemented

    return o


OPERATORS = {
    "__and__": _op(bitwise_and),
    "__or__": _op(bitwise_or),
    "__xor__": _op(bitwise_xor),
    "__lshift__": _op(bitwise_left_shift),
    "__rshift__": _op(bitwise_right_shift),
    "__rand__": _reflect(bitwise_and),
    "__ror__": _reflect(bitwise_or),
    "__rxor__": _reflect(bitwise_xor),
    "__rlshift__": _reflect(bitwise_left_shift),
    "__rrshift__": _reflect(bitwise_right_shift),
    "__invert__": lambda s: bitwise_not(s),
}
