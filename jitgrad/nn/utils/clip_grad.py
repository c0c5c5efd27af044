"""Gradient clipping, in place on ``.grad`` under ``no_grad`` (traceable: no ``.item()``)."""

import math

from ... import creation as _c
from ..._grad_mode import no_grad
from ...ops.movement import stack
from ...tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of the norms of ``tensors`` (e.g. the gradients), as if they
    were concatenated into one vector (a 0-d tensor; 0 for no tensors)."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = [t for t in tensors if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return _c.tensor(0.0)
    with no_grad():
        if norm_type == math.inf:
            norms = [t.detach().abs().amax() for t in tensors]
            total = (
                norms[0] if len(norms) == 1 else stack([n.to(norms[0].dtype) for n in norms]).amax()
            )
        else:
            norms = [t.detach().norm(norm_type) for t in tensors]
            total = stack([n.to(norms[0].dtype) for n in norms]).norm(norm_type)
        if error_if_nonfinite:
            from ..._trace_hooks import is_tracing
            from ...ops.reduce import require

            msg = (
                f"The total norm of order {norm_type} for gradients from `parameters` is "
                "non-finite, so it cannot be clipped. To disable this error and scale the "
                "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
            )
            if is_tracing():  # every compiled call checks it, before it writes any state
                require(total.isfinite(), msg)
            elif not bool(total.isfinite()):
                raise RuntimeError(msg)
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients of ``parameters`` by ``min(1, max_norm / (total_norm + 1e-6))``."""
    grads = _grads(parameters)
    if not grads:
        return
    with no_grad():
        coef = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.dtype))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale gradients so their joint ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm before clipping (a 0-d tensor).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    total = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)


clip_grad_norm = clip_grad_norm_
