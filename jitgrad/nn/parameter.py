"""``nn.Parameter``: a leaf Tensor that a Module registers as a trainable parameter."""

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad by default and is registered when assigned to a Module.

    >>> w = nn.Parameter(jitgrad.zeros(3)); w.requires_grad
    True
    """

    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            arr = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            arr = data._data  # shares storage with ``data``, like torch
        else:
            raise TypeError(
                f"Parameter(): data must be a Tensor, not {type(data).__name__}; wrap it "
                "with jitgrad.tensor(...) first"
            )
        t = object.__new__(cls)
        t._data = arr
        t._requires_grad = False
        t._grad_fn = None
        t._grad = None
        t._vc = data._vc if isinstance(data, Tensor) else [0]
        t._base = None
        t._x = None
        if requires_grad:
            t.requires_grad = True
        return t

    def __init__(self, data=None, requires_grad=True):
        pass  # everything happens in __new__ (Tensor.__init__ would rebuild the storage)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__


__all__ = ["Parameter"]
