"""``autograd.Variable``: the legacy wrapper; it returns a plain Tensor, as PyTorch's does."""

from ..tensor import Tensor, _wrap


class _VariableMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """``Variable(t, requires_grad=False)``: a leaf Tensor sharing ``t``'s storage.

    ``isinstance(t, Variable)`` holds for every Tensor (PyTorch merged the two in 0.4).
    """

    def __new__(cls, data=None, requires_grad=False, volatile=False):
        if data is None:
            from ..creation import tensor

            return tensor([], requires_grad=requires_grad)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        t = _wrap(data._data)
        t._vc = data._vc
        if requires_grad:
            t.requires_grad = True
        return t
