"""``autograd.forward_ad``: dual tensors (``make_dual``/``unpack_dual`` in a ``dual_level``).

Emulated on the tape, not a forward-mode engine: ``make_dual(p, t)`` returns a differentiable
stand-in for ``p`` (recorded with its tangent in the current level) and ``unpack_dual(y)``
computes ``y``'s tangent ``J t`` by two reverse passes over the graph from the duals to ``y``
(the double-backward trick). Values are forward mode's; the differences: the computation must
be recorded (forward AD under ``no_grad`` gives no tangent here), and a dual tensor has
``requires_grad=True``. A custom ``Function`` with a ``jvp`` staticmethod gives its outputs'
tangents itself; those outputs start a new dual (reverse mode does not flow back through them
inside the level)."""

import contextlib
from collections import namedtuple

from ..tensor import Tensor

__all__ = [
    "dual_level",
    "enter_dual_level",
    "exit_dual_level",
    "make_dual",
    "unpack_dual",
    "UnpackedDualTensor",
]

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])

_LEVELS = []  # one list of (dual, tangent) per open level


def enter_dual_level():
    """Open a new forward-AD level (only one at a time, as torch); returns its index."""
    if _LEVELS:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _LEVELS.append([])
    return len(_LEVELS) - 1


def exit_dual_level(*, level=None):
    """Close the current level: its dual tensors lose their tangents."""
    if not _LEVELS:
        raise RuntimeError("Dual level must be a positive number.")
    _LEVELS.pop()


@contextlib.contextmanager
def dual_level():
    """``with dual_level():`` scope in which ``make_dual`` tensors carry tangents."""
    enter_dual_level()
    try:
        yield len(_LEVELS) - 1
    finally:
        exit_dual_level()


def make_dual(tensor, tangent, *, level=None):
    """A tensor equal to ``tensor`` whose tangent (forward gradient) is ``tangent``."""
    if not _LEVELS:
        raise RuntimeError(
            "Trying to create a dual Tensor for forward AD but no level exists, make "
            "sure to enter_dual_level() first."
        )
    for t in (tensor, tangent):
        if not t.is_floating_point():
            raise ValueError(f"Expected primal to be floating point or complex, but got: {t.dtype}")
    if tuple(tensor.shape) != tuple(tangent.shape):
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the "
            f"original Tensor, this is not supported. Tensor is of size {list(tensor.shape)} "
            f"while the given forward gradient is of size {list(tangent.shape)}."
        )
    from .grad_mode import enable_grad

    with enable_grad():
        dual = tensor.view_as(tensor) if tensor.requires_grad else tensor.detach().requires_grad_()
    _LEVELS[-1].append((dual, tangent))
    return dual


def unpack_dual(tensor, *, level=None):
    """``(primal, tangent)`` of ``tensor``; the tangent is None outside a level or when
    ``tensor`` does not depend on a dual tensor."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"unpack_dual: expected a Tensor, got {type(tensor).__name__}")
    duals = _LEVELS[-1] if _LEVELS else []
    for d, t in duals:
        if d is tensor:
            return UnpackedDualTensor(tensor, t)
    if not duals or not tensor.requires_grad or not tensor.is_floating_point():
        return UnpackedDualTensor(tensor, None)
    from .functional import jvp_by_double_backward
    from .grad_mode import enable_grad

    with enable_grad():
        (jv,) = jvp_by_double_backward(
            (tensor,), [d for d, _ in duals], [t for _, t in duals], False
        )
    return UnpackedDualTensor(tensor, None if jv is None else jv.detach())


def _function_jvp(cls, ctx, args, outs):
    """Outputs of a custom ``Function`` with a ``jvp`` staticmethod, inside a dual level with
    a dual input: each output becomes a dual tensor whose tangent ``cls.jvp(ctx, *tangents)``
    gives (a new root, so the double-backward of later ``unpack_dual`` calls stops there and
    needs no ``backward``)."""
    if not _LEVELS:
        return outs
    tangents = [unpack_dual(a).tangent if isinstance(a, Tensor) else None for a in args]
    if all(t is None for t in tangents):
        return outs
    from .grad_mode import no_grad

    with no_grad():  # a tangent is data here, not part of the reverse-mode graph
        res = cls.jvp(ctx, *tangents)
    res = res if isinstance(res, tuple) else (res,)
    if len(res) != len(outs):
        raise RuntimeError(
            f"{cls.__name__}.jvp returned {len(res)} tangents for {len(outs)} outputs"
        )
    return tuple(
        make_dual(o.detach(), t) if isinstance(o, Tensor) and t is not None else o
        for o, t in zip(outs, res)
    )
